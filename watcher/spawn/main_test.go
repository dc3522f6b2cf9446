package spawn

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

// childEnv makes the test binary play a worker (os/exec's helper-process
// pattern). Modes:
//
//	hold  write "ready <pid>" on stdout, then wait for SIGTERM
//	stamp hold, then on SIGTERM write "exit <CLOCK_MONOTONIC ns>" on
//	      stdout and exit_group(0) at once (exitlatency_bench_test.go)
//	exit  exit 0 at once
//	activate  take the socket poold passed through go-systemd's
//	          activation, answer one connection with "pid <pid>", exit 0
const childEnv = "POOLD_SPAWN_TEST_CHILD"

// stallShimEnv, in a worker's environment, stops its exec shim before
// the exec (TestStalledShimDoesNotStallStart).
const stallShimEnv = "POOLD_SPAWN_TEST_STALL_SHIM"

// The main goroutine keeps the main thread (LockOSThread in an init runs
// main on it), and serves onMainThread while the tests run elsewhere.
func init() { runtime.LockOSThread() }

var onMain = make(chan func())

// onMainThread runs f on the process's main thread and returns when f
// has.
func onMainThread(f func()) {
	done := make(chan struct{})
	onMain <- func() {
		defer close(done)
		f()
	}
	<-done
}

// runTests runs the tests on another goroutine and serves onMainThread
// until they end, then checks for leaked goroutines.
func runTests(m *testing.M) int {
	code := make(chan int, 1)
	go func() { code <- m.Run() }()
	for {
		select {
		case f := <-onMain:
			f()
		case c := <-code:
			if err := goleak.Find(); c == 0 && err != nil {
				fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
				return 1
			}
			return c
		}
	}
}

func TestMain(m *testing.M) {
	// The spawners under test use this binary as their exec shim; as
	// one asked to stall, it stops itself before it execs (a shim held
	// by a hung mount or a debugger).
	if _, shim := os.LookupEnv(shimEnv); shim && os.Getenv(stallShimEnv) != "" {
		_ = syscall.Kill(os.Getpid(), syscall.SIGSTOP)
	}
	RunShimIfRequested()
	switch os.Getenv(childEnv) {
	case "":
		// Play poold, which marks the fds it inherited without
		// close-on-exec (a CI runner's, a shell's) before it starts any
		// worker (sockets.SealInherited), so that the fd tables the tests
		// inspect hold only what the spawner passed.
		if err := unix.CloseRange(3, math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC); err != nil {
			fmt.Fprintf(os.Stderr, "spawn test: mark inherited fds close-on-exec (needs Linux 5.11): %v\n", err)
			os.Exit(2)
		}
		os.Exit(runTests(m))
	case "hold":
		// Only a signal wait: no timer or poller, so the runtime opens no
		// fd that would blur the fd table the test inspects.
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGTERM)
		fmt.Printf("ready %d\n", os.Getpid())
		<-c
		exitNow(0)
	case "stamp":
		exitNow(stampExit())
	case "exit":
		exitNow(0)
	case "write":
		// Output nobody keeps must still take writes (a worker that logs
		// to stdout fails otherwise), and stdin read to its end.
		_, err1 := os.Stdout.WriteString("out\n")
		_, err2 := os.Stderr.WriteString("err\n")
		n, err3 := os.Stdin.Read(make([]byte, 1))
		if err1 != nil || err2 != nil || n != 0 || err3 != io.EOF {
			exitNow(3)
		}
		exitNow(0)
	case "activate":
		exitNow(serveActivated())
	case "attrs":
		exitNow(reportAttrs())
	case "spares":
		exitNow(runFullLimit())
	case "reserve":
		exitNow(runTightLimit())
	case "tinymem":
		exitNow(runTinyMemory())
	default:
		fmt.Fprintf(os.Stderr, "spawn test child: unknown mode %q\n", os.Getenv(childEnv))
		exitNow(2)
	}
}

// exitNow ends a child (a worker mode of this binary) at once with
// code. os.Exit(0) in a -race build sleeps GORACE's atexit_sleep_ms
// first (1 s by default), which every test waiting for a child's exit
// sat out; a child's environment is its spec's, so the test's own GORACE
// does not reach it. A race in a child is still reported as it happens
// (only its exit status no longer says 66). exitwatch's stamp mode ends
// the same way.
func exitNow(code int) { unix.Exit(code) }

// hang is the generous bound that only catches a hang.
const hang = 30 * time.Second

// self is this test binary, which plays both the shim and the worker.
func self(t testing.TB) string {
	t.Helper()
	p, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// running is a spawner whose Run goroutine the test owns.
type running struct {
	*Spawner
	cancel context.CancelFunc
	done   chan struct{} // closed when Run has returned
	err    error         // what Run returned, once done is closed
}

// runSpawner runs a spawner until the test ends. shell replaces /bin/sh
// when not empty.
func runSpawner(t testing.TB, shell string) *running {
	t.Helper()
	return runSpawnerWith(t, shell, false)
}

// runSpawnerWith is runSpawner, without the exec stub when noStub (the
// fallback to /bin/sh).
func runSpawnerWith(t testing.TB, shell string, noStub bool) *running {
	t.Helper()
	s := New(self(t))
	if shell != "" {
		s.shell = shell
	}
	s.stubOff = noStub
	return runSpawnerOf(t, s)
}

// runSpawnerOf runs s until the test ends.
func runSpawnerOf(t testing.TB, s *Spawner) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Spawner: s, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.err = s.Run(ctx)
	}()
	t.Cleanup(func() { r.stop(t) })
	// Once Run serves, it holds everything it opens for good (the exec
	// stub's memfd): a refused Start is a request it has served.
	if _, err := s.Start(ProcSpec{}); err == nil {
		t.Fatal("Start with an empty argv succeeded")
	}
	return r
}

// stop ends Run and waits for it to return; calling it again is harmless.
func (r *running) stop(t testing.TB) {
	t.Helper()
	r.cancel()
	<-r.done
	if r.err != nil {
		t.Errorf("Run returned %v, want nil on a requested stop", r.err)
	}
}

// child is a worker started by a test.
type child struct {
	p      *Proc
	stderr *os.File
	waited bool
}

// start starts spec with this binary in mode, its stderr in a temporary
// file, and kills and reaps it when the test ends.
func start(t testing.TB, s *Spawner, mode string, spec ProcSpec) *child {
	t.Helper()
	if spec.Path == "" {
		spec.Path, spec.Argv = self(t), []string{"spawn.test"}
	}
	spec.Env = append(spec.Env, childEnv+"="+mode)
	errf, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { errf.Close() })
	spec.Stderr = errf
	p, err := s.Start(spec)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	c := &child{p: p, stderr: errf}
	t.Cleanup(func() {
		if !c.waited {
			// Not reaped yet, so the pid is still this child's.
			syscall.Kill(p.Pid, syscall.SIGKILL)
			p.Wait()
		}
	})
	return c
}

// wait reaps the child, bounded by hang.
func (c *child) wait(t testing.TB) Exit {
	t.Helper()
	type waited struct {
		ex  Exit
		err error
	}
	got := make(chan waited, 1)
	go func() {
		ex, err := c.p.Wait()
		got <- waited{ex, err}
	}()
	select {
	case w := <-got:
		c.waited = true
		if w.err != nil {
			t.Fatalf("Wait: %v", w.err)
		}
		return w.ex
	case <-time.After(hang):
		syscall.Kill(c.p.Pid, syscall.SIGKILL)
		<-got
		c.waited = true
		t.Fatalf("pid %d still running after %v", c.p.Pid, hang)
		return Exit{}
	}
}

// stderrText is what the child wrote on its stderr so far.
func (c *child) stderrText(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(c.stderr.Name())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// readReady waits for the "ready <pid>" line of a child in mode hold,
// which it writes once its final program runs.
func readReady(t testing.TB, c *child, out *os.File) {
	t.Helper()
	if err := out.SetReadDeadline(time.Now().Add(hang)); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the child's ready line: %v; its stderr: %q", err, c.stderrText(t))
	}
	if want := fmt.Sprintf("ready %d\n", c.p.Pid); line != want {
		t.Fatalf("child says %q, want %q: the exec step did not keep the pid", line, want)
	}
}

// procEnv is the environment pid's program was exec'd with.
func procEnv(t testing.TB, pid int) map[string]string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, kv := range strings.Split(strings.TrimRight(string(b), "\x00"), "\x00") {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	return env
}

// procUmask is pid's umask as /proc shows it, e.g. "0027".
func procUmask(t testing.TB, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Umask:"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("/proc/%d/status has no Umask line", pid)
	return ""
}

// procFDs maps each fd that pid's program got through its exec to the
// fd's target. Those are the fds without close-on-exec: one with the flag
// would not have survived the exec, so it is the program's own (the Go
// runtime keeps its cgroup files open, for one).
func procFDs(t testing.TB, pid int) map[int]string {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	fds := map[int]string{}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		info, err := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%d", pid, fd))
		if err != nil {
			t.Fatal(err)
		}
		var flags uint64
		for _, line := range strings.Split(string(info), "\n") {
			if v, ok := strings.CutPrefix(line, "flags:"); ok {
				if flags, err = strconv.ParseUint(strings.TrimSpace(v), 8, 64); err != nil {
					t.Fatalf("/proc/%d/fdinfo/%d: flags %q: %v", pid, fd, v, err)
				}
			}
		}
		if flags&unix.O_CLOEXEC != 0 {
			continue
		}
		if fds[fd], err = os.Readlink(filepath.Join(dir, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	return fds
}

// target is what f refers to, as /proc/PID/fd shows it.
func target(t testing.TB, f *os.File) string {
	t.Helper()
	s, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", f.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	return s
}
