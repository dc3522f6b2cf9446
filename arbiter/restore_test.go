package arbiter

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/proctest"
)

// stubbornOn is a watcher whose workers ignore SIGTERM once they serve on
// socket, with a graceful_timeout that outlasts the test: its stop ends
// only when the test kills its workers.
func stubbornOn(name, socket string, n int) configs.Watcher {
	w := testWatcher(name, "stubborn", n)
	w.Sockets = []string{socket}
	w.GracefulTimeout = 2 * hang
	return w
}

// answering waits until n distinct workers answer on socket and returns
// their pids.
func answering(t *testing.T, h *harness, socket string, n int) []int {
	t.Helper()
	seen := map[string]bool{}
	addr := h.socketAddr(socket)
	proctest.Eventually(t, fmt.Sprintf("%d workers answer on %s", n, socket), func() bool {
		if body, err := get(addr, "/"); err == nil && strings.HasPrefix(body, "pid=") {
			seen[strings.TrimPrefix(strings.Fields(body)[0], "pid=")] = true
		}
		return len(seen) == n
	})
	return h.do("list", map[string]any{"name": "stub"})["pids"].([]int)
}

func (h *harness) waitStatus(name, want string) {
	h.t.Helper()
	proctest.Eventually(h.t, fmt.Sprintf("watcher %s %s", name, want), func() bool {
		return h.a.Do(context.Background(), Request{ID: "s", Command: "status", Properties: map[string]any{"name": name}})["status"] == want
	})
}

// applied waits until n config reloads (counted from the start) were
// applied: each publishes a reloadconfig event as it begins to.
func (h *harness) applied(n int) {
	h.t.Helper()
	for range n {
		h.next("reloadconfig", nil)
	}
}

// stopStubborn kills pids, stubborn workers that serve and so ignore
// SIGTERM, when the test ends, before the harness stops the arbiter: a
// restored watcher's new workers count as started only once they serve.
func stopStubborn(t *testing.T, pids []int) {
	t.Cleanup(func() {
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
}

func killAll(t *testing.T, pids []int) {
	t.Helper()
	for _, pid := range pids {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatalf("kill %d: %v", pid, err)
		}
	}
}

// newPids fails unless watcher name is active with n workers, none of
// them in old, and returns them.
func newPids(t *testing.T, h *harness, name string, n int, old []int) []int {
	t.Helper()
	if st := h.do("status", map[string]any{"name": name})["status"]; st != "active" {
		t.Fatalf("watcher %s is %v, want active", name, st)
	}
	pids := h.do("list", map[string]any{"name": name})["pids"].([]int)
	for _, p := range pids {
		for _, o := range old {
			if p == o {
				t.Errorf("watcher %s still has old pid %d (pids %v)", name, p, pids)
			}
		}
	}
	if len(pids) != n {
		t.Errorf("watcher %s has pids %v, want %d", name, pids, n)
	}
	return pids
}

// TestReloadRestoresAWatcherAReloadIsRemoving: a reload that put back a
// watcher an earlier reload was still stopping answered "unchanged", and
// the earlier reload then forgot the watcher the file defines. Now it is
// added back: stub, whose stop was under way, starts again with the
// file's section; late, whose turn to stop had not come (it stops after
// stub), is never stopped. Both reloads answer.
func TestReloadRestoresAWatcherAReloadIsRemoving(t *testing.T) {
	keep := testWatcher("keep", "sleep", 1)
	stub := stubbornOn("stub", "s", 2)
	late := testWatcher("late", "serve", 1)
	late.Sockets = []string{"t"}
	late.Priority = 10 // starts before stub, so stops after it
	full := configs.Config{Sockets: []configs.Socket{tcpSocket("s"), tcpSocket("t")}, Watchers: []configs.Watcher{keep, stub, late}}
	next := full
	h := start(t, &full, Options{Load: func() (*configs.Config, error) { c := next; return &c, nil }})
	old := answering(t, h, "s", 2)
	latePids := h.do("list", map[string]any{"name": "late"})["pids"].([]int)

	next.Watchers = []configs.Watcher{keep}
	removing := doAsync(h, "reloadconfig", map[string]any{"waiting": true})
	h.waitStatus("stub", "stopping")
	next = full
	restoring := doAsync(h, "reloadconfig", map[string]any{"waiting": true})
	h.applied(2) // the restore is applied while stub stops
	killAll(t, old)

	r := <-restoring
	if r["status"] != "ok" || fmt.Sprint(r["added"]) != "[late stub]" || fmt.Sprint(r["unchanged"]) != "[keep]" {
		t.Fatalf("reload restoring stub and late: %v, want ok with added [late stub], unchanged [keep]", r)
	}
	if r := <-removing; r["status"] != "ok" || fmt.Sprint(r["removed"]) != "[late stub]" {
		t.Fatalf("reload removing stub and late: %v, want ok with removed [late stub]", r)
	}
	stopStubborn(t, newPids(t, h, "stub", 2, old))
	if got := h.do("list", map[string]any{"name": "late"})["pids"].([]int); fmt.Sprint(got) != fmt.Sprint(latePids) {
		t.Errorf("late's pids %v, want %v: its stop had not begun when it was restored", got, latePids)
	}
	if r := h.do("reloadconfig", map[string]any{"waiting": true}); fmt.Sprint(r["unchanged"]) != "[keep late stub]" {
		t.Errorf("a reload of the same file: %v, want every watcher unchanged", r)
	}
}

// TestReloadRestoresAWatcherRmIsRemoving: the same after rm, whose stop
// used to forget the watcher the reload had just called unchanged.
func TestReloadRestoresAWatcherRmIsRemoving(t *testing.T) {
	keep := testWatcher("keep", "sleep", 1)
	stub := stubbornOn("stub", "s", 2)
	cfg := configs.Config{Sockets: []configs.Socket{tcpSocket("s")}, Watchers: []configs.Watcher{keep, stub}}
	h := start(t, &cfg, Options{Load: func() (*configs.Config, error) { c := cfg; return &c, nil }})
	old := answering(t, h, "s", 2)

	removed := doAsync(h, "rm", map[string]any{"name": "stub", "waiting": true})
	h.waitStatus("stub", "stopping")
	restoring := doAsync(h, "reloadconfig", map[string]any{"waiting": true})
	h.applied(1)
	killAll(t, old)

	if r := <-restoring; r["status"] != "ok" || fmt.Sprint(r["added"]) != "[stub]" {
		t.Fatalf("reloadconfig after rm stub: %v, want ok with added [stub]", r)
	}
	if r := <-removed; r["status"] != "ok" {
		t.Fatalf("rm stub: %v", r)
	}
	stopStubborn(t, newPids(t, h, "stub", 2, old))
}

// TestReloadClosesASocketAfterTheWatchersLeaving: a socket a reload
// removes is closed (a unix one's file unlinked) only once the watchers
// still leaving through an earlier reload, which may use it, have
// stopped, as it is after the watchers the reload itself removes.
func TestReloadClosesASocketAfterTheWatchersLeaving(t *testing.T) {
	keep := testWatcher("keep", "sleep", 1)
	u := configs.DefaultSocket("u")
	u.Family, u.Host, u.Path = "unix", "", filepath.Join(t.TempDir(), "u.sock")
	stub := stubbornOn("stub", "s", 1)
	stub.Sockets = []string{"s", "u"}
	full := configs.Config{Sockets: []configs.Socket{tcpSocket("s"), u}, Watchers: []configs.Watcher{keep, stub}}
	next := full
	h := start(t, &full, Options{Load: func() (*configs.Config, error) { c := next; return &c, nil }})
	old := answering(t, h, "s", 1)

	next.Watchers = []configs.Watcher{keep}
	h.do("reloadconfig", nil)
	h.waitStatus("stub", "stopping")
	next.Sockets = []configs.Socket{tcpSocket("s")}
	if r := h.do("reloadconfig", map[string]any{"waiting": true}); fmt.Sprint(r["sockets"].(map[string]any)["removed"]) != "[u]" {
		t.Fatalf("reload removing socket u: %v", r)
	}
	if _, err := os.Stat(u.Path); err != nil {
		t.Errorf("socket u closed while stub, leaving, still uses it: %v", err)
	}
	killAll(t, old)
	proctest.Eventually(t, "socket u's file removed once stub stopped", func() bool {
		_, err := os.Stat(u.Path)
		return os.IsNotExist(err)
	})
}
