package handover

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
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
	f := proctest.ListenerFile(t)
	socks, err := InodesOf([]*os.File{f})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, "-m", "uvicorn", "--fd", "3", "--workers", "2", "--app-dir", app, "asgi_broken:app")
	pid := startGroup(t, cmd, f)
	// Two Python processes that start and fail under the machine's load
	// (20 s and more at a load average of 50): a bound that only
	// catches a hang.
	ctx, cancel := context.WithTimeout(context.Background(), 3*hang)
	defer cancel()
	t0 := time.Now()
	s, err := Wait(ctx, pid, socks)
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
	f := proctest.ListenerFile(t)
	socks, err := InodesOf([]*os.File{f})
	if err != nil {
		t.Fatal(err)
	}
	// The helper runs 0.3 s, so Wait sees it; the server loads for 2 s
	// after it, longer than holdersGrace.
	server := `import select, time; time.sleep(2); ep = select.epoll(); ep.register(3, select.EPOLLIN); ep.poll()`
	cmd := exec.Command("/bin/sh", "-c", `sleep 0.3; exec "$0" -c "$1"`, py, server)
	pid := startGroup(t, cmd, f)
	ctx, cancel := context.WithTimeout(context.Background(), 3*hang)
	defer cancel()
	if s, err := Wait(ctx, pid, socks); s != Listening || err != nil {
		t.Fatalf("Wait = %v, %v; want listening", s, err)
	}
}
