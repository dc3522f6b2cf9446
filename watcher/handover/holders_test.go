package handover

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/watcher/proctest"
)

// A master's workers that held the socket and all exited make Wait give
// up on the master once they have been gone for holdersGrace; a worker
// replaced in time, a tree that never had a holder, or one that has some
// again does not.
func TestHoldersCheck(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	type look struct {
		live []int
		at   time.Duration
		fail bool
	}
	for _, tc := range []struct {
		name     string
		unreaped map[int]bool // the holders that are zombies when asked
		looks    []look
	}{
		{"no holder ever", nil, []look{{nil, 0, false}, {nil, 5 * time.Second, false}}},
		{"workers exit, unreaped", map[int]bool{7: true, 8: true}, []look{{[]int{7, 8}, 0, false}, {nil, 100 * time.Millisecond, false},
			{nil, 100*time.Millisecond + holdersGrace - 1, false}, {nil, 100*time.Millisecond + holdersGrace, true}}},
		{"helpers exit, reaped (a shell, pyenv's shim)", nil, []look{{[]int{7, 8}, 0, false}, {nil, 100 * time.Millisecond, false},
			{nil, 5 * time.Second, false}}},
		{"worker replaced", map[int]bool{7: true}, []look{{[]int{7}, 0, false}, {nil, 100 * time.Millisecond, false},
			{[]int{9}, 150 * time.Millisecond, false}, {[]int{9}, 5 * time.Second, false}}},
		{"gone, back, gone again", map[int]bool{9: true}, []look{{[]int{7}, 0, false}, {nil, 100 * time.Millisecond, false},
			{[]int{9}, time.Second, false}, {nil, 1500 * time.Millisecond, false},
			{nil, 1500*time.Millisecond + holdersGrace, true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h holders
			for i, l := range tc.looks {
				err := h.check(l.live, at(l.at), func(pid int) bool { return tc.unreaped[pid] })
				if got := errors.Is(err, ErrWorkersExited); got != l.fail {
					t.Fatalf("look %d (live %v at %v): %v; want failed=%v", i, l.live, l.at, err, l.fail)
				}
			}
		})
	}
}

// Debian's uvicorn as a master of two worker processes, serving an app
// whose import fails: its supervisor lives on, asleep, with no worker.
// Wait reports it (the pids of the workers that held the socket) instead
// of waiting for a master that will never serve.
func TestWaitReportsUvicornWithoutWorkers(t *testing.T) {
	py := proctest.Tool(t, "/usr/bin/python3", "python3")
	proctest.PythonModules(t, py, "uvicorn", "python3-uvicorn")
	app, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	f, socks := listenerInodes(t)
	cmd := exec.Command(py, "-m", "uvicorn", "--fd", "3", "--workers", "2", "--app-dir", app, "asgi_broken:app")
	pid := startGroup(t, cmd, f)
	// Two Python processes that start and fail under the machine's load
	// (20 s and more at a load average of 50): a bound that only
	// catches a hang.
	ctx, cancel := context.WithTimeout(context.Background(), 3*hang)
	defer cancel()
	t0 := time.Now()
	s, err := Wait(ctx, pid, socks, 3*hang)
	if !errors.Is(err, ErrWorkersExited) {
		t.Fatalf("Wait = %v, %v after %v; want ErrWorkersExited", s, err, time.Since(t0))
	}
	if exited(pid) {
		t.Fatalf("uvicorn's supervisor exited; this test needs one that outlives its workers")
	}
	t.Logf("after %v: %v", time.Since(t0), err)
}

// A shell that runs a helper before it execs the server (pyenv's shim
// does the like): the helper holds the inherited socket and exits,
// reaped, while the server still loads. That is no master without
// workers: Wait goes on until the server waits for connections.
func TestWaitLeavesAServerAfterItsReapedHelpers(t *testing.T) {
	py := proctest.Tool(t, "/usr/bin/python3", "python3")
	f, socks := listenerInodes(t)
	// The helper runs 0.3 s, so Wait sees it; the server loads for 2 s
	// after it, longer than holdersGrace.
	server := `import select, time; time.sleep(2); ep = select.epoll(); ep.register(3, select.EPOLLIN); ep.poll()`
	cmd := exec.Command("/bin/sh", "-c", `sleep 0.3; exec "$0" -c "$1"`, py, server)
	pid := startGroup(t, cmd, f)
	ctx, cancel := context.WithTimeout(context.Background(), 3*hang)
	defer cancel()
	if s, err := Wait(ctx, pid, socks, 3*hang); s != Listening || err != nil {
		t.Fatalf("Wait = %v, %v; want listening", s, err)
	}
}

// A gunicorn-shaped master whose workers load longer than the soft
// bound: Wait does not give up on it there (which would count it ready,
// and let a rolling reload stop the serving masters while the new ones
// still load). One of whose workers failed to boot reaps it, waits for
// the other and exits only then: Wait sees the exit, or, for a master
// that does not exit, ends with ErrWorkerLost once ctx does. A worker
// without processes of its own holding a socket (a server /proc cannot
// see waiting) is given up on at the soft bound, as before.
func TestWaitFollowsAMasterPastTheSoftBound(t *testing.T) {
	py := proctest.Tool(t, "/usr/bin/python3", "python3")
	// argv[1]: how long the first worker loads before it fails; argv[2]:
	// what the second does (it loads); argv[3]: what the master does once
	// it has reaped the first.
	const master = `
import os, select, signal, sys, time
if os.fork() == 0:
    time.sleep(float(sys.argv[1]))
    os._exit(3)
loader = os.fork()
if loader == 0:
    exec(sys.argv[2])
    os._exit(0)
os.waitpid(-1, 0)
exec(sys.argv[3])
`
	const (
		soft    = 1500 * time.Millisecond
		loads   = "time.sleep(3600)"
		serves  = "time.sleep(2.5); ep = select.epoll(); ep.register(3, select.EPOLLIN); ep.poll()"
		halts   = "time.sleep(1.5); os.kill(loader, signal.SIGKILL); os.wait(); os._exit(3)"
		never   = "time.sleep(3600)"
		nowhere = "3600"
	)
	cases := []struct {
		name, fail, loader, halt string
		ctx                      time.Duration
		want                     error
		ctxEnded                 bool
	}{
		{"loads past the soft bound, then waits", nowhere, serves, never, 3 * hang, nil, false},
		{"still loading when ctx ends", nowhere, loads, never, 3 * time.Second, ErrStillLoading, true},
		{"lost a worker, halts after the soft bound", "0.5", loads, halts, 3 * hang, ErrExited, false},
		{"lost a worker, never halts", "0.5", loads, never, 3 * time.Second, ErrWorkerLost, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := proctest.ListenerFile(t)
			socks, err := InodesOf([]*os.File{f})
			if err != nil {
				t.Fatal(err)
			}
			pid := startReaped(t, exec.Command(py, "-c", master, tc.fail, tc.loader, tc.halt), f)
			// Wait begins as poold's does, with the workers alive (and
			// not after the Python interpreter's start, which a loaded
			// machine makes slow).
			proctest.Eventually(t, "the master's two workers", func() bool {
				_, _, workers, err := look(pid, socks, false)
				return err == nil && len(workers) == 2
			})
			ctx, cancel := context.WithTimeout(context.Background(), tc.ctx)
			defer cancel()
			t0 := time.Now()
			var said [][]int // what past was given: once, past soft, so poold says why it waits on
			s, err := WaitPast(ctx, pid, socks, soft, func(holders []int) { said = append(said, holders) })
			if !errors.Is(err, tc.want) || (err == nil && s != Listening) || (ctx.Err() != nil) != tc.ctxEnded {
				t.Fatalf("Wait = %v, %v after %v (ctx ended: %v); want %v, ctx ended: %v", s, err, time.Since(t0), ctx.Err() != nil, tc.want, tc.ctxEnded)
			}
			if len(said) != 1 || len(said[0]) == 0 {
				t.Fatalf("past called with %v; want once, with the pids holding the socket", said)
			}
			t.Logf("after %v: %v, %v", time.Since(t0), s, err)
		})
	}
}

// A server that holds the socket itself and is not seen waiting (here it
// polls another file) is given up on at the soft bound, before ctx ends.
func TestWaitGivesUpOnAServerAtTheSoftBound(t *testing.T) {
	w := startWorker(t, "other-epoll")
	w.goOn(t)
	w.expect(t, "polling")
	ctx, cancel := context.WithTimeout(context.Background(), 3*hang)
	defer cancel()
	said := false
	if s, err := WaitPast(ctx, w.cmd.Process.Pid, w.socks, 200*time.Millisecond, func([]int) { said = true }); !errors.Is(err, ErrNotSeen) || ctx.Err() != nil || said {
		t.Fatalf("Wait = %v, %v (ctx ended: %v, past called: %v); want ErrNotSeen at the soft bound, past not called", s, err, ctx.Err() != nil, said)
	}
}

// A shell that left a helper of another program in the background with
// the socket (`sleep 3600 & wait`) and never serves was waited for up to
// ctx as a master whose workers load the app: incr and reload of such a
// watcher took ready_timeout (60 s) instead of the 10 s bound. A helper
// that runs another program than its parent is no master's worker.
func TestWaitGivesUpOnAShellWithAHelperAtTheSoftBound(t *testing.T) {
	f, socks := listenerInodes(t)
	pid := startReaped(t, exec.Command("/bin/sh", "-c", "sleep 3600 & wait"), f)
	proctest.Eventually(t, "the shell's sleep", func() bool {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
		return err == nil && len(strings.TrimSpace(string(b))) > 0
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*hang)
	defer cancel()
	said := false
	if s, err := WaitPast(ctx, pid, socks, 200*time.Millisecond, func([]int) { said = true }); !errors.Is(err, ErrNotSeen) || ctx.Err() != nil || said {
		t.Fatalf("Wait = %v, %v (ctx ended: %v, past called: %v); want ErrNotSeen at the soft bound", s, err, ctx.Err() != nil, said)
	}
}

// A new worker of a rolling reload replaces serving workers: WaitHeld
// does not give up on it at soft, where Wait counts a server not seen
// as ready (a server that hangs before it serves is one), but says so
// and goes on: one that waits later is seen (a slow start), one that
// never does is not seen once ctx ends.
func TestWaitHeldGoesOnPastTheSoftBound(t *testing.T) {
	t.Run("waits later", func(t *testing.T) {
		w := startWorker(t, "epoll")
		// It has said "armed" and reads its stdin: idle, not waiting on the socket.
		ctx, cancel := context.WithTimeout(context.Background(), hang)
		defer cancel()
		said := make(chan bool, 1)
		type result struct {
			s   Seen
			err error
		}
		done := make(chan result, 1)
		go func() {
			s, err := WaitHeld(ctx, w.cmd.Process.Pid, w.socks, 200*time.Millisecond, func(_ []int, busy bool) { said <- busy })
			done <- result{s, err}
		}()
		select {
		case <-said:
		case r := <-done:
			t.Fatalf("WaitHeld = %v, %v before the worker waited; want it to go on past soft", r.s, r.err)
		}
		w.goOn(t)
		if r := <-done; r.err != nil || r.s != Listening {
			t.Fatalf("WaitHeld = %v, %v once the worker polls its socket; want listening", r.s, r.err)
		}
	})
	t.Run("never waits", func(t *testing.T) {
		w := startWorker(t, "other-epoll")
		w.goOn(t)
		w.expect(t, "polling")
		// ctx ends well past soft: a loaded machine may delay the first
		// look after soft, which is the one that calls past.
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		said := 0
		s, err := WaitHeld(ctx, w.cmd.Process.Pid, w.socks, 200*time.Millisecond, func([]int, bool) { said++ })
		if !errors.Is(err, ErrNotSeen) || ctx.Err() == nil || said != 1 {
			t.Fatalf("WaitHeld = %v, %v (ctx ended: %v, past called %d times); want ErrNotSeen once ctx ended, past called once", s, err, ctx.Err() != nil, said)
		}
	})
}

// startReaped is startGroup for a master that exits during the test: it
// is reaped at once, as poold reaps its workers, so it does not linger
// as a zombie that Wait cannot tell from a live master.
func startReaped(t *testing.T, cmd *exec.Cmd, f *os.File) int {
	t.Helper()
	cmd.ExtraFiles = []*os.File{f}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // its own group: the master and its workers
		<-done
	})
	return cmd.Process.Pid
}

// listenerInodes is a listening socket for a test's server, and its
// inode as Wait and look take it.
func listenerInodes(t *testing.T) (*os.File, Inodes) {
	t.Helper()
	f := proctest.ListenerFile(t)
	socks, err := InodesOf([]*os.File{f})
	if err != nil {
		t.Fatal(err)
	}
	return f, socks
}
