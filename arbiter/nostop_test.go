package arbiter

import (
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/proctest"
	"github.com/poold/poold/watcher/workertest"
)

// TestRmNostopAnswersWhatWaitsOnTheWatcher: `rm --nostop` forgot a
// watcher that waited commands were parked on (a stop whose worker had
// not ended yet, a start whose worker was not ready...): nothing ever
// settled it again, so their clients waited for their own timeout and
// every later upgrade waited 90 s for them and was refused. Each is now
// answered at once with errno 6 naming rm --nostop, and none is left
// parked.
func TestRmNostopAnswersWhatWaitsOnTheWatcher(t *testing.T) {
	for _, tc := range []struct {
		cmd   string
		props map[string]any
	}{
		{"stop", nil},
		{"restart", nil},
		{"reload", nil},
		{"start", nil},
		{"incr", nil},
		{"decr", nil},
		{"set", map[string]any{"options": map[string]any{"numprocesses": 2}}},
	} {
		t.Run(tc.cmd, func(t *testing.T) {
			h := unreadyStubborn(t, 2)
			props := map[string]any{"name": "web", "waiting": true}
			for k, v := range tc.props {
				props[k] = v
			}
			waited := doAsync(h, tc.cmd, props)
			h.parkedCount(1)
			h.do("rm", map[string]any{"name": "web", "nostop": true})
			r := waitReply(t, waited)
			reason, _ := r["reason"].(string)
			if r["status"] != "error" || r["errno"] != ErrnoAsync ||
				!strings.Contains(reason, `watcher "web" was removed by rm --nostop before the `+tc.cmd+" finished") {
				t.Errorf("waited %s of a watcher rm --nostop removed: %v; want errno %d saying rm --nostop removed it", tc.cmd, r, ErrnoAsync)
			}
			left := onLoop(t, h.a, func() any { return slices.Collect(maps.Keys(h.a.unmanaged)) }).([]int)
			for _, pid := range left {
				if !strings.Contains(reason, strconv.Itoa(pid)) {
					t.Errorf("reason %q does not name the worker %d left running", reason, pid)
				}
			}
			h.parkedCount(0)
		})
	}
}

// TestRmNostopOfAnAddedWatcherAnswersTheAdd: a waited add with start,
// whose watcher rm --nostop removed before its worker was ready, is
// answered (errno 6) instead of left parked.
func TestRmNostopOfAnAddedWatcherAnswersTheAdd(t *testing.T) {
	h := start(t, &configs.Config{}, Options{})
	added := doAsync(h, "add", map[string]any{"name": "extra", "cmd": os.Args[0], "start": true, "waiting": true,
		"options": map[string]any{"env": map[string]any{workertest.Env: "sleep"}, "readiness": "delay", "ready_delay": 3600, "ready_timeout": 7200}})
	h.spawned()
	h.killWorkersAtEnd()
	h.parkedCount(1)
	h.do("rm", map[string]any{"name": "extra", "nostop": true})
	r := waitReply(t, added)
	if reason, _ := r["reason"].(string); r["errno"] != ErrnoAsync || !strings.Contains(reason, "removed by rm --nostop before the add finished") {
		t.Errorf("waited add of a watcher rm --nostop removed: %v; want errno %d naming rm --nostop", r, ErrnoAsync)
	}
	h.parkedCount(0)
}

// TestRmNostopKeepsAnOrderedStopGoing: a waited stop of db stops web,
// which depends on it, first; rm --nostop of web while its worker was
// stopping left the stop of db waiting for web for ever. It now goes on
// to db and answers ok: db stopped as asked.
func TestRmNostopKeepsAnOrderedStopGoing(t *testing.T) {
	db := testWatcher("db", "sleep", 1)
	web := testWatcher("web", "stubborn", 1)
	web.Sockets, web.DependsOn, web.GracefulTimeout = []string{"web"}, []string{"db"}, time.Hour
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{db, web}}, Options{})
	h.spawns(2)
	h.killWorkersAtEnd()
	h.serving("web") // ignores SIGTERM from now on
	stopped := doAsync(h, "stop", map[string]any{"name": "db", "waiting": true})
	h.next("kill", nil) // web's worker is told to stop, and does not
	h.do("rm", map[string]any{"name": "web", "nostop": true})
	if r := waitReply(t, stopped); r["status"] != "ok" {
		t.Errorf("waited stop of db after rm --nostop of web, its dependant: %v, want ok", r)
	}
	if st := h.do("status", map[string]any{"name": "db"})["status"]; st != "stopped" {
		t.Errorf("db after its waited stop: %v, want stopped", st)
	}
	h.parkedCount(0)
}

// TestRmNostopRefusesAWatcherBeingRemoved: rm --nostop took a watcher
// that a waited rm or reloadconfig was already removing: it forgot it
// mid-removal, and that command was never answered. It is now refused
// (errno 5): those workers are stopping already. The removal goes on and
// its command is answered once the worker is gone.
func TestRmNostopRefusesAWatcherBeingRemoved(t *testing.T) {
	for _, cmd := range []string{"rm", "reloadconfig"} {
		t.Run(cmd, func(t *testing.T) {
			w := testWatcher("web", "stubborn", 1)
			w.Sockets, w.GracefulTimeout = []string{"web"}, time.Hour
			socks := []configs.Socket{tcpSocket("web")}
			h := start(t, &configs.Config{Sockets: socks, Watchers: []configs.Watcher{w}}, Options{
				Load: func() (*configs.Config, error) { return &configs.Config{Sockets: socks}, nil },
			})
			pid := h.spawned()
			h.killWorkersAtEnd()
			h.serving("web")
			removing := doAsync(h, cmd, map[string]any{"name": "web", "waiting": true})
			h.next("kill", nil)
			r := h.a.Do(t.Context(), Request{ID: "t", Command: "rm", Properties: map[string]any{"name": "web", "nostop": true}})
			if reason, _ := r["reason"].(string); r["errno"] != ErrnoFailed || !strings.Contains(reason, `watcher "web" is already being removed`) {
				t.Errorf("rm --nostop of a watcher %s removes: %v; want errno %d saying it is being removed", cmd, r, ErrnoFailed)
			}
			killWorker(t, pid) // ends the stop the grace would have ended
			if r := waitReply(t, removing); r["status"] != "ok" {
				t.Errorf("waited %s after the refused rm --nostop: %v, want ok", cmd, r)
			}
			h.parkedCount(0)
		})
	}
}

// unreadyStubborn runs watcher "web" with n workers that ignore SIGTERM
// (graceful_timeout an hour) and are never ready within a test: every
// waited command on it stays parked. Its workers are killed when the
// test ends.
func unreadyStubborn(t *testing.T, n int) *harness {
	t.Helper()
	w := testWatcher("web", "stubborn", n)
	w.Sockets, w.GracefulTimeout = []string{"web"}, time.Hour
	w.Readiness, w.ReadyDelay, w.ReadyTimeout = "delay", time.Hour, 2*time.Hour
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{w}}, Options{})
	h.spawns(n)
	h.killWorkersAtEnd()
	h.serving("web")
	return h
}

// killWorkersAtEnd SIGKILLs, when the test ends and before poold stops,
// every worker poold has, its watchers' and those rm --nostop left: they
// ignore SIGTERM for an hour.
func (h *harness) killWorkersAtEnd() {
	t := h.t.(*testing.T)
	t.Cleanup(func() {
		pids := onLoop(t, h.a, func() any {
			var pids []int
			for pid := range h.a.unmanaged {
				pids = append(pids, pid)
			}
			for _, w := range h.a.watchers {
				pids = append(pids, w.Pids()...)
			}
			return pids
		}).([]int)
		for _, pid := range pids {
			killWorker(t, pid)
		}
	})
}

// parkedCount waits until n waited commands are parked on the loop.
func (h *harness) parkedCount(n int) {
	h.t.Helper()
	t := h.t.(*testing.T)
	proctest.Eventually(h.t, strconv.Itoa(n)+" waited commands parked", func() bool {
		return onLoop(t, h.a, func() any {
			if n == 0 && h.a.parkedErr() != nil {
				return false
			}
			return len(h.a.parked) == n
		}).(bool)
	})
}

// killWorker SIGKILLs a worker the test started, if it still runs.
func killWorker(t *testing.T, pid int) {
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && err != syscall.ESRCH {
		t.Errorf("kill worker %d: %v", pid, err)
	}
}
