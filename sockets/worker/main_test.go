package worker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/watcher/workertest"
)

// childEnv makes the test binary play a worker: "serve" serves with
// Serve, "h2c" with Serve and h2c on, "plain" with http.Server.Shutdown
// alone, "listen" takes the
// sockets named in $WORKER_TEST_NAMES (comma-separated) and says what it
// got on one line.
const childEnv = "WORKER_TEST_CHILD"

func TestMain(m *testing.M) {
	switch mode := os.Getenv(childEnv); mode {
	case "":
		os.Exit(m.Run())
	case "listen":
		fmt.Println(listenChild())
		os.Exit(0)
	default:
		if err := serveChild(mode); err != nil {
			fmt.Fprintln(os.Stderr, "worker test child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
}

// serveChild serves on fd 3 until SIGTERM, answering "hello from pid N",
// and drains with Serve, or with Shutdown alone in mode "plain".
func serveChild(mode string) error {
	l, err := Listener("")
	if err != nil {
		return err
	}
	pid := os.Getpid()
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "hello from pid %d\n", pid)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	if mode == "h2c" {
		srv.Protocols = new(http.Protocols)
		srv.Protocols.SetHTTP1(true)
		srv.Protocols.SetUnencryptedHTTP2(true)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	fmt.Printf("worker pid %d serving on %s\n", pid, l.Addr())
	if mode != "plain" {
		return Serve(ctx, srv, l)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// listenChild takes the sockets named in $WORKER_TEST_NAMES in turn and
// returns "name=address" for each ("error: ..." at the first that
// fails), then what is left of LISTEN_FDS.
func listenChild() string {
	var got []string
	for _, name := range strings.Split(os.Getenv("WORKER_TEST_NAMES"), ",") {
		l, err := Listener(name)
		if err != nil {
			got = append(got, "error: "+err.Error())
			break
		}
		got = append(got, name+"="+l.Addr().String())
		l.Close()
	}
	return strings.Join(got, " ") + " LISTEN_FDS=" + os.Getenv("LISTEN_FDS") + " inheritable=" + strings.Join(inheritable(), ",")
}

// inheritable lists which of fds 3 and 4 (the sockets the tests pass: at
// most two) are open without close-on-exec: a child this process starts
// would get them.
func inheritable() []string {
	var out []string
	for fd := uintptr(3); fd <= 4; fd++ {
		flags, _, errno := syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_GETFD, 0)
		if errno == 0 && flags&syscall.FD_CLOEXEC == 0 {
			out = append(out, fmt.Sprint(fd))
		}
	}
	return out
}

// startWorker starts the test binary as a worker in mode on sock, and
// returns once it serves.
func startWorker(t *testing.T, sock *os.File, mode string) *exec.Cmd {
	t.Helper()
	return workertest.StartActivated(t, []string{childEnv + "=" + mode}, " serving on ", sock)
}

// listenSocket opens a loopback listening socket for the test and
// returns its address and a file of it for workers.
func listenSocket(t *testing.T) (string, *os.File) {
	t.Helper()
	l, sock := workertest.ListenerFile(t)
	return l.Addr().String(), sock
}
