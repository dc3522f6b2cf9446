package spawn

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// maxThreads bounds how many OS threads this test process may gain while
// a thousand workers start and run: a few for the Go runtime (GOMAXPROCS,
// sysmon, the race detector's), none per worker. Gained, not in all: an
// idle thread never ends, so those an earlier test needed (the fallback's
// one per worker, with -count) stay, and are reused.
const maxThreads = 20

// maxFDs bounds the fds this test process may gain beyond those a test
// holds itself: the Go runtime's few (netpoller, signal pipes).
const maxFDs = 8

// exitCase is how one worker is made to end, and what Wait must say.
type exitCase struct {
	code int            // written to the worker, which exits with it
	sig  syscall.Signal // or sent to it
	want Exit
}

// exitCases cycles through exit codes 0-255 and a few fatal signals, so
// that every worker of a batch ends in its own known way. (Not SIGINT or
// SIGHUP: a test run in the background or under nohup may pass them on
// ignored.)
func exitCases(n int) []exitCase {
	sigs := []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGALRM}
	cases := make([]exitCase, n)
	for i := range cases {
		if i%4 == 3 {
			sig := sigs[(i/4)%len(sigs)]
			cases[i] = exitCase{sig: sig, want: Exit{Signal: sig}}
			continue
		}
		code := (i * 7) % 256
		cases[i] = exitCase{code: code, want: Exit{Code: code}}
	}
	return cases
}

// TestExitStatusesExact starts a thousand sleeping workers, checks that
// waiting for them costs no thread and no fd each, then ends each in its
// own way and checks that Wait reports exactly that, while an orphan
// reaper sweeps all the while and takes none of them.
func TestExitStatusesExact(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatalf("no sh to play the workers: %v", err)
	}
	r := runSpawner(t, "")
	// The orphan reaper sweeps all the while: it must take no worker's
	// exit from its spawner, even one not yet registered.
	stop, stolen := make(chan struct{}), make(chan []Orphan, 1)
	go func() {
		var took []Orphan
		for {
			select {
			case <-stop:
				stolen <- took
				return
			default:
				took = append(took, ReapOrphans()...)
			}
		}
	}()
	testExits(t, r.Spawner, sh, 1000, func() {
		// Stopped before the fds are counted: it opens /proc files.
		close(stop)
		if took := <-stolen; len(took) > 0 {
			t.Errorf("the orphan reaper took the exits of workers %v", took)
		}
	})
}

// sleeper is a worker blocked reading its exit code from the pipe at fd 3.
type sleeper struct {
	p    *Proc
	in   *os.File      // the write end of its pipe
	done chan struct{} // closed once Wait has returned ex and err
	ex   Exit
	err  error
}

// testExits calls reaped, if not nil, once every worker has been reaped.
func testExits(t *testing.T, s *Spawner, sh string, n int, reaped func()) {
	fdsBefore, threadsBefore := countFDs(t), countThreads(t)
	cases := exitCases(n)
	ws := make([]*sleeper, n)
	for i := range ws {
		ws[i] = startSleeper(t, s, sh)
	}
	threads, fds := countThreads(t), countFDs(t)
	t.Logf("%d workers running, %d threads and %d fds in this process (%d and %d before they started)",
		n, threads, fds, threadsBefore, fdsBefore)
	if threads-threadsBefore >= maxThreads {
		t.Errorf("%d threads with %d workers running, %d before: want fewer than %d more; waiting costs a thread per worker",
			threads, n, threadsBefore, maxThreads)
	}
	// Each sleeper's pipe is one fd here (its write end); the waiting
	// itself must hold none: every fork copies the whole fd table.
	if fds-fdsBefore > n+maxFDs {
		t.Errorf("%d fds with %d workers running, %d before: want at most %d more (a pipe each); waiting costs an fd per worker",
			fds, n, fdsBefore, n+maxFDs)
	}
	for i, w := range ws {
		var err error
		if c := cases[i]; c.sig != 0 {
			// Not reaped yet, so the pid is still this worker's.
			err = syscall.Kill(w.p.Pid, c.sig)
		} else {
			_, err = fmt.Fprintf(w.in, "%d\n", c.code)
		}
		if err != nil {
			t.Errorf("worker %d (pid %d): %v", i, w.p.Pid, err)
		}
		w.in.Close()
	}
	timeout := time.After(hang)
	for i, w := range ws {
		select {
		case <-w.done:
			if w.err != nil || w.ex != cases[i].want {
				t.Errorf("worker %d (pid %d): Wait = %v, %v; want %v", i, w.p.Pid, w.ex, w.err, cases[i].want)
			}
		case <-timeout:
			t.Fatalf("worker %d (pid %d) not reaped within %v", i, w.p.Pid, hang)
		}
	}
	if reaped != nil {
		reaped()
	}
	if fds := countFDs(t); fds > fdsBefore {
		t.Errorf("%d fds open after every worker was reaped, %d before: the waiting leaks", fds, fdsBefore)
	}
}

// startSleeper starts sh reading an exit code from a pipe, and a
// goroutine waiting for it, which the test waits for.
// sleepers counts the sleepers started: every other one is waited for
// through OnExit, the others through Wait.
var sleepers atomic.Int64

func startSleeper(t testing.TB, s *Spawner, sh string) *sleeper {
	t.Helper()
	rd, wr, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	p, err := s.Start(ProcSpec{
		Path: sh, Argv: []string{"sh", "-c", `read code <&3; exit "$code"`},
		Files: []*os.File{rd}, Umask: -1,
	})
	if err != nil {
		wr.Close()
		t.Fatal(err)
	}
	w := &sleeper{p: p, in: wr, done: make(chan struct{})}
	if sleepers.Add(1)%2 == 0 {
		// Every other one through OnExit, the way poold waits.
		p.OnExit(func(ex Exit, err error) {
			w.ex, w.err = ex, err
			close(w.done)
		})
	} else {
		go func() {
			defer close(w.done)
			w.ex, w.err = p.Wait()
		}()
	}
	t.Cleanup(func() {
		wr.Close() // read gets EOF: the worker exits
		<-w.done
	})
	return w
}

// countThreads is this process's number of OS threads.
func countThreads(t testing.TB) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatalf("/proc/self/status: Threads: %q", v)
			}
			return n
		}
	}
	t.Fatal("/proc/self/status has no Threads line")
	return 0
}

// countFDs is how many fds this process has open.
func countFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents) - 1 // the directory's own
}

// OnExit registered after the spawner reaped the worker calls its
// function at once, with the exit.
func TestOnExitAfterTheExit(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatalf("no sh to play the worker: %v", err)
	}
	r := runSpawner(t, "")
	p, err := r.Spawner.Start(ProcSpec{Path: sh, Argv: []string{"sh", "-c", "exit 7"}, Umask: -1})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(hang):
		t.Fatalf("pid %d not reaped within %v", p.Pid, hang)
	}
	var got *Exit
	p.OnExit(func(ex Exit, err error) {
		if err != nil {
			t.Errorf("OnExit: %v", err)
		}
		got = &ex
	})
	if got == nil || *got != (Exit{Code: 7}) {
		t.Fatalf("OnExit after the exit got %v, want exit status 7 at once", got)
	}
}
