package arbiter

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
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
// stub), is never stopped. Both reloads answer. Subscribers see each
// added back as a watcher the reload adds (an updated event came before
// the add of each, for a watcher they had been told was removed).
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
	seen := restoreEvents(t, h, old, 2)
	if got, want := since(seen["late"], "remove"), []string{"remove", "add"}; !slices.Equal(got, want) {
		t.Errorf("late's events from the reload that removed it on: %v, want %v (its workers ran on)", got, want)
	}

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
// used to forget the watcher the reload had just called unchanged; and
// the same events.
func TestReloadRestoresAWatcherRmIsRemoving(t *testing.T) {
	keep := testWatcher("keep", "sleep", 1)
	stub := stubbornOn("stub", "s", 2)
	cfg := configs.Config{Sockets: []configs.Socket{tcpSocket("s")}, Watchers: []configs.Watcher{keep, stub}}
	h := start(t, &cfg, Options{Load: func() (*configs.Config, error) { c := cfg; return &c, nil }})
	old := answering(t, h, "s", 2)

	removed := doAsync(h, "rm", map[string]any{"name": "stub", "waiting": true})
	h.waitStatus("stub", "stopping")
	restoring := doAsync(h, "reloadconfig", map[string]any{"waiting": true})
	seen := restoreEvents(t, h, old, 1)
	if got := seen["keep"]; slices.Contains(got, "updated") || slices.Contains(got, "remove") {
		t.Errorf("keep's events: %v, want no updated or remove (its section is the same)", got)
	}

	if r := <-restoring; r["status"] != "ok" || fmt.Sprint(r["added"]) != "[stub]" {
		t.Fatalf("reloadconfig after rm stub: %v, want ok with added [stub]", r)
	}
	// The reload took stub back: the waited rm did not remove it and
	// says so (TestWaitedRmTakenBackByAReloadFails).
	if r := <-removed; r["status"] != "error" || r["errno"] != ErrnoAsync || !strings.Contains(fmt.Sprint(r["reason"]), "was not removed") {
		t.Errorf("rm stub, which the reload took back: %v, want errno %d saying it was not removed", r, ErrnoAsync)
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

// recordKinds reads h's events up to and including the first one stop
// accepts, adding each one's kind to seen under its watcher's name ("" for
// the arbiter), except ready events, whose place among a start's events
// depends on the workers.
func recordKinds(h *harness, seen map[string][]string, stop func(events.Event) bool) {
	h.t.Helper()
	h.next("", func(ev events.Event) bool {
		if ev.Kind != events.KindReady {
			seen[ev.Watcher] = append(seen[ev.Watcher], string(ev.Kind))
		}
		return stop(ev)
	})
}

// since returns kinds from the first from on.
func since(kinds []string, from string) []string {
	return kinds[max(slices.Index(kinds, from), 0):]
}

// restoredKinds is what a subscriber sees of stub, stopping (two workers
// that ignore SIGTERM) when a reload defines it again: removed, added
// back, its old workers end, its new ones start.
var restoredKinds = []string{"remove", "kill", "kill", "add", "exit", "reap", "exit", "reap", "stop", "spawn", "spawn", "start"}

// restoreEvents follows stub, whose workers old ignore SIGTERM, through
// its restore: it waits for the reloads reloadconfig events (the last the
// restoring one's), kills old, and waits for stub's start. It checks
// stub's events from its remove on, and returns every watcher's events.
func restoreEvents(t *testing.T, h *harness, old []int, reloads int) map[string][]string {
	t.Helper()
	seen := map[string][]string{}
	recordKinds(h, seen, func(ev events.Event) bool {
		if ev.Kind == events.KindReloadConfig {
			reloads--
		}
		return reloads == 0
	})
	killAll(t, old)
	recordKinds(h, seen, func(ev events.Event) bool { return ev.Watcher == "stub" && ev.Kind == events.KindStart })
	if got := since(seen["stub"], "remove"); !slices.Equal(got, restoredKinds) {
		t.Errorf("stub's events from its remove on: %v, want %v", got, restoredKinds)
	}
	return seen
}
