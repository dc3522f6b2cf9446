package arbiter

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher/workertest"
)

// hookedWatcher is watcher web with a before_spawn hook that says yes,
// and workers that are ready only after ready_delay: a window in which a
// new worker runs but does not serve yet.
func hookedWatcher(t *testing.T) configs.Watcher {
	w := testWatcher("web", "serve", 2)
	w.Sockets = []string{"web"}
	w.Readiness = "delay"
	w.ReadyDelay = time.Second
	w.Hooks = map[string]string{"before_spawn": hookScript(t, t.TempDir(), "yes.sh", "exit 0\n")}
	return w
}

// watchOldWorkers reads web's events until until says stop, and fails the
// test when a worker of old is told to stop before a new worker is
// ready (with forbid, when one of them is told to stop at all).
func watchOldWorkers(t *testing.T, h *harness, old map[int]bool, forbid bool, until func(events.Event) bool) {
	t.Helper()
	newReady := false
	for {
		ev := h.next("", func(ev events.Event) bool { return ev.Watcher == "web" })
		pid, _ := ev.Fields["process_pid"].(int)
		switch {
		case ev.Kind == events.KindReady && !old[pid]:
			newReady = true
		case ev.Kind == events.KindKill && old[pid] && forbid:
			t.Fatalf("old worker %d was stopped, though the new version never started", pid)
		case ev.Kind == events.KindKill && old[pid] && !newReady:
			t.Fatalf("old worker %d was stopped before any new worker was ready", pid)
		}
		if until(ev) {
			return
		}
	}
}

// F1 (r59b): with a before_spawn hook, a rolling reload stopped the old
// workers at once, counting the new workers' seats held by their hook
// as serving. They must wait for a new worker's readiness, as without
// the hook.
func TestBeforeSpawnHookReloadWaitsForReadiness(t *testing.T) {
	w := hookedWatcher(t)
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{w}}, Options{})
	old := readyPids(t, h, "web", 2)
	reply := doAsync(h, "reload", map[string]any{"name": "web", "waiting": true})
	watchOldWorkers(t, h, old, false, func(ev events.Event) bool { return ev.Kind == events.KindReload })
	if r := <-reply; r["status"] != "ok" {
		t.Fatalf("reload replied %v", r)
	}
	if !strings.Contains(h.log.String(), "new workers ready, stopping the old ones") {
		t.Errorf("the log does not say the new workers were ready before the old ones stopped")
	}
}

// F1 (r59b): with a before_spawn hook, a config reload to a version whose
// workers exit before they are ready stopped the old workers first, and
// then said they kept serving. They must never be stopped.
func TestBeforeSpawnHookFailedReloadKeepsOldWorkers(t *testing.T) {
	w := hookedWatcher(t)
	cfg := &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{w}}
	h := start(t, cfg, Options{Load: func() (*configs.Config, error) {
		c := *cfg
		nw := w
		nw.Env = []string{workertest.Env + "=crash"}
		// Its workers crash long before they could count as ready: a
		// -race crash worker slow to exit under load outlived 1 s and
		// counted ready, and the reload went on (surgefix's runs).
		nw.ReadyDelay = 30 * time.Second
		c.Watchers = []configs.Watcher{nw}
		return &c, nil
	}})
	old := readyPids(t, h, "web", 2)
	reply := doAsync(h, "reloadconfig", map[string]any{"waiting": true})
	watchOldWorkers(t, h, old, true, func(ev events.Event) bool { return ev.Kind == events.KindReloadFailed })
	r := <-reply
	if r["status"] != "error" || !strings.Contains(fmt.Sprint(r["reason"]), "the old workers keep serving") {
		t.Fatalf("reloadconfig replied %v", r)
	}
	checkStillServing(t, h, old)
}

// A before_spawn hook that fails for a new worker of a rolling reload
// abandons the reload, as a spawn that fails does; the old workers,
// whose seats that slot would have taken, keep serving.
func TestBeforeSpawnHookFailingInReloadKeepsOldWorkers(t *testing.T) {
	w := hookedWatcher(t)
	dir := t.TempDir()
	flag := dir + "/refuse"
	w.Hooks["before_spawn"] = hookScript(t, dir, "maybe.sh", `[ ! -e `+flag+` ] || { echo "new version refused" >&2; exit 1; }`+"\n")
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{w}}, Options{})
	old := readyPids(t, h, "web", 2)
	hookScript(t, dir, "refuse", "")
	reply := doAsync(h, "reload", map[string]any{"name": "web", "waiting": true})
	watchOldWorkers(t, h, old, true, func(ev events.Event) bool { return ev.Kind == events.KindReloadFailed })
	r := <-reply
	if reason := fmt.Sprint(r["reason"]); r["status"] != "error" || !strings.Contains(reason, "before_spawn hook failed") || !strings.Contains(reason, "new version refused") {
		t.Fatalf("reload replied %v", r)
	}
	checkStillServing(t, h, old)
}
