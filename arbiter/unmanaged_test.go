package arbiter

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/proctest"
	"github.com/poold/poold/watcher/spawn"
)

// TestQuitStopsWorkersRmLeftRunning: after `rm` with nostop, quit
// answered ok and poold never returned: Run waited for the exits of
// workers nothing would stop, and a second SIGTERM did not help. poold
// now stops them as their watcher would have: SIGTERM, then SIGKILL at
// graceful_timeout (a worker that ignores SIGTERM), or at once on a
// third stop request (Kill).
func TestQuitStopsWorkersRmLeftRunning(t *testing.T) {
	for _, tc := range []struct {
		name, mode string
		kill       bool
	}{
		{"SIGTERM", "sleep", false},
		{"SIGKILL at graceful_timeout", "stubborn", false},
		{"third stop request", "stubborn", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := testWatcher("web", tc.mode, 1)
			w.GracefulTimeout = 300 * time.Millisecond
			if tc.kill {
				w.GracefulTimeout = time.Hour
			}
			cfg := &configs.Config{Watchers: []configs.Watcher{w}}
			if tc.mode == "stubborn" {
				w.Sockets = []string{"web"}
				cfg.Sockets = []configs.Socket{tcpSocket("web")}
				cfg.Watchers[0] = w
			}
			h := start(t, cfg, Options{Spawner: outlivingSpawner(t)})
			pid := h.spawned()
			if tc.mode == "stubborn" {
				h.serving("web")
			}
			h.do("rm", map[string]any{"name": "web", "nostop": true})
			h.do("quit", nil)
			if tc.kill {
				h.a.Kill()
			}
			select {
			case <-h.a.Done():
			case <-time.After(hang):
				t.Fatalf("poold did not stop within %v with a worker rm --nostop left running", hang)
			}
			if proctest.Alive(pid) {
				t.Errorf("worker %d still runs after poold stopped", pid)
			}
			want := tc.mode == "stubborn" && !tc.kill
			if killed := strings.Contains(h.log.String(), "did not stop within graceful_timeout"); killed != want {
				t.Errorf("killed at graceful_timeout (logged): %v, want %v", killed, want)
			}
		})
	}
}

// outlivingSpawner is a spawner served by the test, as poold's binary
// serves its own on the main thread: it outlives Run, so its children do
// not die with it (their parent-death signal) when Run returns.
func outlivingSpawner(t *testing.T) *spawn.Spawner {
	sp := spawn.New(os.Args[0])
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = sp.Run(ctx)
	}()
	t.Cleanup(func() { // after start's, which waits for Run
		cancel()
		wg.Wait()
	})
	return sp
}

// The upgrade refusal counts the workers rm --nostop left in words a
// person reads: "1 worker", "2 workers".
func TestUnmanagedBlockCountsInWords(t *testing.T) {
	tests := []struct {
		pids []int
		want string
	}{
		{[]int{525}, "1 worker left running by rm --nostop (pids [525])"},
		{[]int{7, 3}, "2 workers left running by rm --nostop (pids [3 7])"},
	}
	for _, tc := range tests {
		a := &Arbiter{unmanaged: map[int]unmanagedProc{}}
		for _, pid := range tc.pids {
			a.unmanaged[pid] = unmanagedProc{}
		}
		err := a.unmanagedBlock()
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("unmanagedBlock() = %v, want it to begin %q", err, tc.want)
		}
	}
	if err := (&Arbiter{}).unmanagedBlock(); err != nil {
		t.Errorf("no unmanaged workers: %v", err)
	}
}

// TestQuitStopsRmLeftWorkersAsTheirWatcher: quit stopped the workers rm
// --nostop left with SIGTERM to the whole process group, whatever their
// watcher's stop_signal and stop_children said: a gunicorn master's
// workers got it twice, as before stop_children existed, and a worker
// stopping on SIGINT alone was killed at graceful_timeout.
func TestQuitStopsRmLeftWorkersAsTheirWatcher(t *testing.T) {
	dir := t.TempDir()
	w := masterWatcher(t, dir,
		`trap 'echo master-usr2 >> "$0/log"; kill -USR1 $c; while kill -0 $c 2>/dev/null; do wait $c; done; exit 0' USR2
trap '' TERM`,
		`trap 'echo child-term >> "$1/log"' TERM
trap 'echo child-usr1 >> "$1/log"; kill $(jobs -p) 2>/dev/null; exit 0' USR1`)
	w.StopSignal = syscall.SIGUSR2
	w.GracefulTimeout = time.Minute
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{NoCgroups: true, Spawner: outlivingSpawner(t)})
	pid := readPid(t, dir, "child.pid")
	readPid(t, dir, "master.pid")
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	h.do("rm", map[string]any{"name": "master", "nostop": true})
	h.do("quit", nil)
	select {
	case <-h.a.Done():
	case <-time.After(hang):
		t.Fatalf("poold did not stop within %v", hang)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "log")); string(b) != "master-usr2\nchild-usr1\n" {
		t.Errorf("signals seen:\n%s\nwant the watcher's stop_signal USR2 to the master alone, which stops its child", b)
	}
}
