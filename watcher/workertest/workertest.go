// Package workertest lets a test binary play a poold worker (os/exec's
// helper-process pattern). A test's TestMain calls Main first; when the
// environment variable Env names a mode, the process behaves as that kind
// of worker and exits instead of running the tests.
//
// Modes:
//
//	serve        serve HTTP on the inherited socket (go-systemd activation);
//	             GET / answers "pid=<pid> wid=<wid>", GET /fds lists the
//	             process's open fds with their targets
//	crash        exit with status 3 at once
//	stubborn     serve, but ignore SIGTERM (only SIGKILL stops it)
//	family       serve, after starting a grandchild (sleep) in its group;
//	             GET /child answers the grandchild's pid
//	sleep        block until a signal
package workertest

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/coreos/go-systemd/v22/activation"
)

// Env selects the mode.
const Env = "POOLD_TEST_WORKER"

// Main runs the worker mode named by Env, if any, and then exits.
func Main() {
	mode, ok := os.LookupEnv(Env)
	if !ok {
		return
	}
	if err := run(mode); err != nil {
		fmt.Fprintf(os.Stderr, "workertest %s: %v\n", mode, err)
		os.Exit(1)
	}
	os.Exit(0)
}

func run(mode string) error {
	switch mode {
	case "crash":
		fmt.Println("crashing on purpose")
		os.Exit(3)
	case "sleep":
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
		<-c
		return nil
	case "serve", "stubborn", "family":
	default:
		return fmt.Errorf("unknown mode %q", mode)
	}
	// Read the fd table before anything else opens files of its own.
	fds := listFDs()
	ls, err := activation.Listeners()
	if err != nil {
		return err
	}
	if len(ls) == 0 || ls[0] == nil {
		return fmt.Errorf("no inherited socket (LISTEN_FDS=%q LISTEN_PID=%q pid=%d)",
			os.Getenv("LISTEN_FDS"), os.Getenv("LISTEN_PID"), os.Getpid())
	}
	if mode == "stubborn" {
		signal.Ignore(syscall.SIGTERM)
	}
	child := 0
	if mode == "family" {
		cmd := exec.Command("sleep", "3600")
		if err := cmd.Start(); err != nil {
			return err
		}
		child = cmd.Process.Pid
	}
	wid := os.Getenv("POOLD_WID")
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "pid=%d wid=%s\n", os.Getpid(), wid)
	})
	mux.HandleFunc("/fds", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, fds)
	})
	mux.HandleFunc("/child", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%d\n", child)
	})
	mux.HandleFunc("/env", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, strings.Join(os.Environ(), "\n"))
	})
	fmt.Printf("worker %d serving\n", os.Getpid())
	return http.Serve(ls[0], mux)
}

// listFDs lists "fd target" lines for the process's open fds, skipping the
// directory handle used to read them.
func listFDs() string {
	dir, err := os.Open("/proc/self/fd")
	if err != nil {
		return err.Error()
	}
	defer dir.Close()
	names, _ := dir.Readdirnames(-1)
	var fds []int
	for _, n := range names {
		fd, err := strconv.Atoi(n)
		if err == nil && uintptr(fd) != dir.Fd() {
			fds = append(fds, fd)
		}
	}
	sort.Ints(fds)
	var b strings.Builder
	for _, fd := range fds {
		target, _ := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
		fmt.Fprintf(&b, "%d %s\n", fd, target)
	}
	return b.String()
}
