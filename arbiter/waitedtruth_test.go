package arbiter

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/configs"
)

// A waited reloadconfig listed under updated, and answered ok, a watcher
// whose rolling reload a stop or rm had cut short; a waited add with
// start answered ok for a watcher an rm or a config reload had removed
// before it started. A waited reload or start in the same race answered
// errno 6; these now do too, and say what cut them short.

// rollingReload runs web (one notify worker) with a config Load that
// gives it an env under which its new workers never get ready, so that
// a reloadconfig's rollout of it waits until something else ends it.
// extra watchers are in both configs.
func rollingReload(t *testing.T, extra ...configs.Watcher) *harness {
	w := notifyWatcher(1)
	cfg := &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: append([]configs.Watcher{w}, extra...)}
	next := neverReady(w)
	h := start(t, cfg, Options{Load: func() (*configs.Config, error) {
		c := *cfg
		c.Watchers = append([]configs.Watcher{next}, extra...)
		return &c, nil
	}})
	readyPids(t, h, "web", 1)
	return h
}

func awaitReply(t *testing.T, what string, replies <-chan Reply) Reply {
	t.Helper()
	select {
	case r := <-replies:
		return r
	case <-time.After(hang):
		t.Fatalf("%s: no reply", what)
		return nil
	}
}

func TestWaitedReloadconfigCutShortFails(t *testing.T) {
	for _, tc := range []struct {
		by, want string
	}{
		{"stop", "it is stopped, with the new settings"},
		{"rm", "removed it"},
	} {
		t.Run(tc.by, func(t *testing.T) {
			h := rollingReload(t)
			replies := doAsync(h, "reloadconfig", map[string]any{"waiting": true})
			h.spawned() // the rollout's new worker, which never gets ready
			h.do(tc.by, map[string]any{"name": "web", "waiting": true})
			r := awaitReply(t, "reloadconfig", replies)
			reason := fmt.Sprint(r["reason"])
			if r["errno"] != ErrnoAsync || !strings.Contains(reason, `watcher "web" reload cut short`) || !strings.Contains(reason, tc.want) {
				t.Errorf("waited reloadconfig whose rollout a %s cut short: %v; want errno %d saying web's reload was cut short (%q)", tc.by, r, ErrnoAsync, tc.want)
			}
			if slices.Contains(r["updated"].([]string), "web") {
				t.Errorf("updated %v lists web, whose rollout a %s cut short", r["updated"], tc.by)
			}
			cut, _ := r["cut_short"].(map[string]any)
			if why, _ := cut["web"].(string); !strings.Contains(why, tc.want) {
				t.Errorf("cut_short %v; want web with why (%q)", r["cut_short"], tc.want)
			}
		})
	}
}

// TestWaitedReloadconfigOfStoppedWatcherIsUpdated: a watcher that was
// stopped when the reload began stays stopped with its new settings:
// nothing was cut short.
func TestWaitedReloadconfigOfStoppedWatcherIsUpdated(t *testing.T) {
	h := rollingReload(t)
	h.do("stop", map[string]any{"name": "web", "waiting": true})
	r := h.do("reloadconfig", map[string]any{"waiting": true})
	if cut, _ := r["cut_short"].(map[string]any); fmt.Sprint(r["updated"]) != "[web]" || cut == nil || len(cut) != 0 {
		t.Errorf("reloadconfig of a stopped watcher: %v; want ok, web updated, nothing cut short", r)
	}
}

// neverReadyAdd is an add with start of a watcher whose worker never gets
// ready: its waited reply waits until something else ends it.
func neverReadyAdd(name string) map[string]any {
	w := testWatcher(name, "sleep", 1)
	return map[string]any{"name": name, "cmd": w.Cmd, "start": true, "waiting": true,
		"options": map[string]any{"env": w.Env, "readiness": "notify", "ready_timeout": 3600}}
}

func TestWaitedAddCutShortFails(t *testing.T) {
	for _, by := range []string{"rm", "reloadconfig", "stop"} {
		t.Run(by, func(t *testing.T) {
			base := testWatcher("base", "sleep", 1)
			cfg := &configs.Config{Watchers: []configs.Watcher{base}}
			h := start(t, cfg, Options{Load: func() (*configs.Config, error) { return cfg, nil }})
			h.spawned()
			replies := doAsync(h, "add", neverReadyAdd("extra"))
			h.spawned() // extra's worker, which never gets ready
			props := map[string]any{"name": "extra", "waiting": true}
			if by == "reloadconfig" {
				props = map[string]any{"waiting": true}
			}
			h.do(by, props)
			r := awaitReply(t, "add", replies)
			if r["errno"] != ErrnoAsync || !strings.Contains(fmt.Sprint(r["reason"]), `watcher "extra" was stopped before the add finished`) {
				t.Errorf("waited add with start cut short by %s: %v; want errno %d saying extra was stopped before the add finished", by, r, ErrnoAsync)
			}
		})
	}
}

// TestWaitedAddStartRepliesAsCircusd: circusd's waited add with start
// answers its watcher's start(): the pids started and kept.
func TestWaitedAddStartRepliesAsCircusd(t *testing.T) {
	h := start(t, &configs.Config{}, Options{})
	w := testWatcher("extra", "sleep", 2)
	r := h.do("add", map[string]any{"name": "extra", "cmd": w.Cmd, "start": true, "waiting": true,
		"options": map[string]any{"env": w.Env, "numprocesses": 2}})
	pids := h.do("list", map[string]any{"name": "extra"})["pids"].([]int)
	if fmt.Sprint(r["started"]) != fmt.Sprint(pids) || fmt.Sprint(r["kept"]) != "[]" {
		t.Errorf("waited add with start: %v; want started %v and kept [] as circusd's", r, pids)
	}
	// Without start, or without waiting, circusd's reply has neither.
	for _, props := range []map[string]any{
		{"name": "two", "cmd": w.Cmd, "waiting": true},
		{"name": "three", "cmd": w.Cmd, "start": true},
	} {
		r := h.a.Do(context.Background(), Request{ID: "x", Command: "add", Properties: props})
		if _, has := r["started"]; has || r["status"] != "ok" {
			t.Errorf("add %v: %v; want ok without started", props, r)
		}
	}
}
