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
//	leader-ends  end its first thread alone, at init, the others asleep:
//	             /proc shows a zombie that lives on, as it does of a
//	             program that execs from another thread until the exec
//	             is done; a signal's default action ends it (leader.go)
//	stamp        create $STAMP_DIR/<pid>.ready, block until SIGTERM, then
//	             write the wall clock (Unix ns) to $STAMP_DIR/<pid> and
//	             exit_group(0) at once (no exit hooks, no race detector's
//	             wait): when its exit began
//	notify       serve, and send READY=1 on $NOTIFY_SOCKET once listening
//	             (go-systemd's daemon.SdNotify)
//	never-ready  serve, but never send READY=1
//	leak         serve, and allocate (and touch) 4 MiB every 20 ms up to
//	             512 MiB
//	hoard        leak as leak does, without a socket, until a signal (the
//	             child of a worker that is a shell, say)
//	lines        write numbered lines to stdout and stderr as fast as it
//	             can for $LINES_FOR (a Go duration) and until the file
//	             $LINES_DONE/stop exists, then record how many
//	             in $LINES_DONE/<pid> and block until a signal (lines.go)
//	probe        serve, and also listen on $PROBE_ADDR for probes: GET
//	             /health answers 200 until GET /sick on the shared socket
//	             turns it to 503
//	plain        serve GET / on the inherited socket and only call
//	             http.Server.Shutdown on SIGTERM (plain.go)
//	outlive      hold what it inherited and end once the process
//	             $POOLD_TEST_OUTLIVE_PID has (outlive.go): a deliberate
//	             orphan that ends with the test binary
//
// Every serving mode but plain stops on SIGTERM like a well-behaved web worker:
// it stops accepting, answers every request that reached it (with
// "Connection: close"), then exits 0 once its last connection has closed.
// GET /crash makes the worker drain the same way and exit with status 2:
// a crash that loses no request.
package workertest

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/activation"
	"github.com/coreos/go-systemd/v22/daemon"
)

// Env selects the mode.
const Env = "POOLD_TEST_WORKER"

// Main runs the worker mode named by Env, if any, and then exits.
func Main() {
	mode, ok := os.LookupEnv(Env)
	if !ok {
		return
	}
	if mode != "crash" { // exits 3: no sleep
		quickRaceExit()
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
	case "slow":
		return serveSlow(0)
	case "lagging":
		return serveSlow(acceptLag)
	case "plain":
		return servePlain()
	case "lines":
		return writeLines()
	case "stamp":
		return stampExit()
	case "outlive":
		return outlive()
	case "sleep", "hoard":
		if mode == "hoard" { // a leak without a socket: a child of a worker
			go leak()
		}
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
		<-c
		return nil
	case "serve", "stubborn", "family", "notify", "never-ready", "leak", "probe":
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
	child, sick, err := startExtras(mode)
	if err != nil {
		return err
	}
	crash := make(chan struct{})
	conns := &conns{open: map[net.Conn]time.Time{}, changed: make(chan struct{})}
	// ReadHeaderTimeout, as a web worker sets one: a client that stalls in
	// the middle of its header would hold the drain until SIGKILL.
	srv := &http.Server{Handler: conns.closing(workerMux(fds, child, sick, crash)), ConnState: conns.track,
		ReadHeaderTimeout: 10 * time.Second}
	stop := make(chan os.Signal, 1)
	if mode != "stubborn" {
		signal.Notify(stop, syscall.SIGTERM)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(heardListener{ls[0]}) }()
	fmt.Printf("worker %d serving\n", os.Getpid())
	if mode == "notify" {
		if ok, err := daemon.SdNotify(false, daemon.SdNotifyReady); !ok || err != nil {
			return fmt.Errorf("sd_notify READY=1: sent=%v err=%v (NOTIFY_SOCKET=%q)", ok, err, os.Getenv("NOTIFY_SOCKET"))
		}
	}
	code := 0
	select {
	case err := <-errc:
		return err
	case <-stop:
	case <-crash:
		code = 2
	}
	return drainAndExit(srv, ls[0], errc, conns, code)
}

// A draining worker closes a connection on which no request came once it
// is drainWindow old: one a client opened and kept in its pool without
// using it (net/http's Transport does so when it dialed for a request that
// another connection served), or a preconnect. It has no request in
// flight, and would otherwise hold the worker until its client gives up.
// (net/http's Shutdown waits 5 s for such a connection, golang/go#22682.)

// drainWindow is how long a draining worker lets its keep-alive clients
// leave on their own, after an answer saying "Connection: close".
const drainWindow = 500 * time.Millisecond

// conns follows a server's connections through its ConnState hook, so that
// a draining worker can wait for the last one to close.
type conns struct {
	mu sync.Mutex
	// open maps each open connection to when it was accepted while no
	// request has been read on it, to the zero time once one was.
	open    map[net.Conn]time.Time
	changed chan struct{} // closed at the next change of open
	// draining makes every answer say "Connection: close".
	draining atomic.Bool
}

// closing makes h's answers say "Connection: close" once c is draining.
func (c *conns) closing(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c.draining.Load() {
			w.Header().Set("Connection", "close")
		}
		h.ServeHTTP(w, r)
	})
}

// closedWithin returns once no connection is open, or after d.
func (c *conns) closedWithin(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		c.mu.Lock()
		n, changed := len(c.open), c.changed
		c.mu.Unlock()
		if n == 0 {
			return
		}
		select {
		case <-changed:
		case <-t.C:
			return
		}
	}
}

func (c *conns) track(nc net.Conn, st http.ConnState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch st {
	case http.StateNew:
		c.open[nc] = time.Now()
	case http.StateClosed, http.StateHijacked:
		delete(c.open, nc)
	default:
		c.open[nc] = time.Time{}
	}
	close(c.changed)
	c.changed = make(chan struct{})
}

// drain returns once no connection is open. With keep-alives disabled,
// a connection closes after its next response; one that has carried no
// request for unused is closed here, as its client is not using it. A
// client that sends on it at that instant retries on another connection:
// its Transport counts a connection taken from its pool as reused.
func (c *conns) drain(unused time.Duration) {
	for {
		c.mu.Lock()
		if len(c.open) == 0 {
			c.mu.Unlock()
			return
		}
		changed := c.changed
		next := c.closeUnused(unused)
		c.mu.Unlock()
		if next < 0 {
			<-changed
			continue
		}
		t := time.NewTimer(next)
		select {
		case <-changed:
		case <-t.C:
		}
		t.Stop()
	}
}

// closeUnused closes each connection on which nothing has come (not a
// byte, sentNothing) for unused since it was accepted, and returns how
// long until the next check is due (-1: no connection left to check).
// c.mu is held.
func (c *conns) closeUnused(unused time.Duration) time.Duration {
	next := time.Duration(-1)
	sooner := func(d time.Duration) {
		if next < 0 || d < next {
			next = d
		}
	}
	now := time.Now()
	for nc, since := range c.open {
		if since.IsZero() {
			continue
		}
		if d := since.Add(unused).Sub(now); d > 0 {
			sooner(d)
			continue
		}
		if !sentNothing(nc) {
			// Its request has come, whole or in part: the server answers
			// it (or ReadHeaderTimeout ends a stalled one), then it
			// closes. Look again later, lest no change ever wake drain.
			sooner(drainWindow)
			continue
		}
		nc.Close() // its StateClosed follows
		c.open[nc] = time.Time{}
	}
	return next
}

// closeUnusedNow closes the connections that have carried no request
// for unused already.
func (c *conns) closeUnusedNow(unused time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closeUnused(unused)
}

// leak grows the heap, touching every page, until the worker is replaced.
// makeFile makes path, and reports false when it was there already.
func makeFile(path string) bool {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return false
	}
	return f.Close() == nil
}

func leak() {
	var hoard [][]byte
	for len(hoard) < 128 {
		b := make([]byte, 4<<20)
		for i := range b {
			b[i] = 1
		}
		hoard = append(hoard, b)
		time.Sleep(20 * time.Millisecond) // the leak's pace, not synchronisation
	}
	select {}
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

// startExtras starts what a mode adds beside serving: the child of
// "family", the leak of "leak", the health endpoint of "probe" (sick
// turns it to 503).
func startExtras(mode string) (child int, sick *atomic.Bool, err error) {
	sick = new(atomic.Bool)
	switch mode {
	case "family":
		cmd := exec.Command("sleep", "3600")
		if err := cmd.Start(); err != nil {
			return 0, nil, err
		}
		child = cmd.Process.Pid
	case "leak":
		// With LEAK_ONCE=FILE only the worker that makes FILE leaks.
		if once := os.Getenv("LEAK_ONCE"); once != "" && !makeFile(once) {
			break
		}
		go leak()
	case "probe":
		pl, err := net.Listen("tcp", os.Getenv("PROBE_ADDR"))
		if err != nil {
			return 0, nil, fmt.Errorf("probe listener: %w", err)
		}
		go http.Serve(pl, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if sick.Load() {
				http.Error(w, "sick", http.StatusServiceUnavailable)
				return
			}
			fmt.Fprintln(w, "ok")
		}))
	}
	return child, sick, nil
}

// workerMux answers what tests ask a serving worker: who it is (/), its
// fds at start, its environment, its child, to turn sick, to crash
// (crash is closed once).
func workerMux(fds string, child int, sick *atomic.Bool, crash chan struct{}) *http.ServeMux {
	wid := os.Getenv("POOLD_WID")
	var once sync.Once
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "pid=%d wid=%s\n", os.Getpid(), wid)
	})
	mux.HandleFunc("/fds", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, fds)
	})
	mux.HandleFunc("/sick", func(w http.ResponseWriter, r *http.Request) {
		sick.Store(true)
		fmt.Fprintf(w, "pid=%d sick\n", os.Getpid())
	})
	mux.HandleFunc("/child", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%d\n", child)
	})
	mux.HandleFunc("/env", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, strings.Join(os.Environ(), "\n"))
	})
	mux.HandleFunc("/crash", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "pid=%d crashing\n", os.Getpid())
		once.Do(func() { close(crash) })
	})
	return mux
}

// drainAndExit ends a serving worker without failing a request, whether
// its clients keep connections alive or close each after one answer.
func drainAndExit(srv *http.Server, l net.Listener, errc <-chan error, conns *conns, code int) error {
	// Server.Shutdown is not used: it stops accepting, but a
	// request it reads after that on a connection accepted just before is
	// dropped unanswered (net/http's conn.serve returns once the server is
	// shutting down, golang/go#75591), and the client cannot retry it, the
	// connection being new to it: the request failed. Nor are keep-alives
	// turned off at once: that closes every idle keep-alive connection,
	// and a client like wrk has its next request on the way on each.
	// Instead: every answer from now on says "Connection: close", so a
	// keep-alive client leaves after its next one; the listener is closed,
	// so new connections go to the other processes sharing the socket;
	// one on which nothing came for drainWindow is closed at once; the
	// worker waits up to drainWindow for the connections it accepted
	// to close that way, then closes those still idle or unused (a client
	// that sent nothing in that time: one that sends at that instant
	// retries, the connection having been reused) and waits for the rest.
	conns.draining.Store(true)
	if err := l.Close(); err != nil {
		return fmt.Errorf("closing the listener: %w", err)
	}
	// Serve returns at its next Accept; every connection it accepted
	// before is tracked by then (StateNew is set before Accept is called
	// again).
	if err := <-errc; !errors.Is(err, net.ErrClosed) {
		return err
	}
	conns.closeUnusedNow(drainWindow)
	conns.closedWithin(drainWindow)
	srv.SetKeepAlivesEnabled(false)
	conns.drain(drainWindow)
	if code != 0 {
		fmt.Printf("worker %d crashing on request\n", os.Getpid())
		os.Exit(code)
	}
	return nil
}

// stampExit is mode "stamp".
func stampExit() error {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM)
	path := fmt.Sprintf("%s/%d", os.Getenv("STAMP_DIR"), os.Getpid())
	if err := os.WriteFile(path+".ready", nil, 0o600); err != nil {
		return err
	}
	<-c
	if err := os.WriteFile(path, []byte(strconv.FormatInt(time.Now().UnixNano(), 10)), 0o600); err != nil {
		return err
	}
	syscall.Exit(0)
	return nil
}
