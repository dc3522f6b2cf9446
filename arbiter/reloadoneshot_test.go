package arbiter

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher/proctest"
)

// F3 (r59b): a config reload that changed a one-shot that had run (a
// migration) said "updated" and did not run it again, and an app that
// depends on it, changed in the same edit, rolled over to its new code
// without the new migration. circusd re-creates a changed watcher and
// starts it. The changed one-shot now runs again, and the app's rolling
// replacement waits for its success; a failed run leaves the app's old
// workers serving, and the reply says why.
func TestReloadRunsAChangedOneShotAgain(t *testing.T) {
	cases := []struct {
		name    string
		mig     string // the new one-shot's script, after it logs its TAG
		app     bool   // the app changes too
		rolls   bool   // the app's workers are replaced
		refused string // in the reply's reason; "" for ok
	}{
		{"migration and app", "exit 0", true, true, ""},
		{"migration alone", "exit 0", false, false, ""},
		{"failed migration", "exit 3", true, false, `watcher "app" rolled back: not updated: it depends on watcher "mig", a one-shot that ran and failed`},
		// r59b docs H1: a migration that runs past its readiness (100 ms)
		// had the app rolled over beside it, and kept so when it failed.
		{"slow migration and app", "sleep 1; exit 0", true, true, ""},
		{"slow failed migration", "sleep 1; exit 3", true, false, `watcher "app" rolled back: not updated: it depends on watcher "mig", a one-shot that ran and failed`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			log := filepath.Join(t.TempDir(), "ran")
			mig := oneShot("mig", `echo "$TAG" >> `+log, true)
			mig.Autostart, mig.Env = true, []string{"TAG=m1"}
			app := testWatcher("app", "sleep", 1)
			app.DependsOn = []string{"mig"}
			cfg := &configs.Config{Watchers: []configs.Watcher{mig, app}}
			newMig, newApp := mig.Clone(), app.Clone()
			newMig.Env, newMig.Args = []string{"TAG=m2"}, []string{"-c", `echo "$TAG" >> ` + log + "; " + c.mig}
			if strings.HasPrefix(c.name, "slow") {
				newMig.ReadyDelay = 100 * time.Millisecond // ready before it ends, as by default
			}
			if c.app {
				newApp.Env = append(newApp.Env, "TAG=v2")
			}
			h := start(t, cfg, Options{Load: func() (*configs.Config, error) {
				return &configs.Config{Arbiter: cfg.Arbiter, Watchers: []configs.Watcher{newMig, newApp}}, nil
			}})
			old := readyPids(t, h, "app", 1)
			proctest.Eventually(t, "mig ran out", func() bool {
				return h.do("status", map[string]any{"name": "mig"})["status"] == "stopped"
			})
			ctx, cancel := context.WithTimeout(context.Background(), hang)
			defer cancel()
			r := h.a.Do(ctx, Request{ID: "r", Command: "reloadconfig", Properties: map[string]any{"waiting": true}})
			if reason := fmt.Sprint(r["reason"]); c.refused == "" && r["status"] != "ok" || c.refused != "" && !strings.Contains(reason, c.refused) {
				t.Fatalf("reloadconfig replied %v", r)
			}
			if b, _ := os.ReadFile(log); string(b) != "m1\nm2\n" {
				t.Errorf("the one-shot's runs logged %q, want m1 then m2", b)
			}
			// The one-shot ran, and ended, before any new app worker started.
			if first := h.next(string(events.KindSpawn), nil); first.Watcher != "mig" {
				t.Errorf("first spawn after the reload is %s's, want mig's first", first.Watcher)
			}
			if c.rolls {
				ended := false
				for ev := h.next("", nil); ev.Watcher != "app" || ev.Kind != events.KindSpawn; ev = h.next("", nil) {
					ended = ended || ev.Watcher == "mig" && ev.Kind == events.KindExit
				}
				if !ended {
					t.Error("a new app worker started before the one-shot it depends on ended")
				}
			}
			if kept, _ := r["kept"].(map[string][]string); len(kept["app"]) > 0 {
				t.Errorf("the reply says app's %v were kept from run time; nothing was set: %v", kept["app"], r)
			}
			pids := h.do("list", map[string]any{"name": "app"})["pids"].([]int)
			if kept := len(pids) == 1 && old[pids[0]]; kept == c.rolls {
				t.Errorf("app pids %v after the reload, were %v; want replaced: %v", pids, old, c.rolls)
			}
			if up, _ := r["updated"].([]string); c.refused != "" && slices.Contains(up, "app") {
				t.Errorf("app listed as updated though it was not: %v", r)
			}
		})
	}
}

// TestHeldUpdateIsNoRunTimeValue: while a config reload's update of app
// waited for its one-shot's run, app's old spec read as values "set at
// run time" (status NAME, and every later reload's kept list), though
// nothing was set (r59b rvmerge3, medium).
func TestHeldUpdateIsNoRunTimeValue(t *testing.T) {
	mig := oneShot("mig", "exit 0", true)
	mig.Autostart = true
	app := testWatcher("app", "sleep", 1)
	app.DependsOn = []string{"mig"}
	cfg := &configs.Config{Watchers: []configs.Watcher{mig, app}}
	newMig, newApp := mig.Clone(), app.Clone()
	newMig.Args, newMig.ReadyDelay = []string{"-c", "sleep 2; exit 0"}, 100*time.Millisecond
	newApp.Env = append(newApp.Env, "TAG=v2")
	h := start(t, cfg, Options{Load: func() (*configs.Config, error) {
		return &configs.Config{Arbiter: cfg.Arbiter, Watchers: []configs.Watcher{newMig, newApp}}, nil
	}})
	readyPids(t, h, "app", 1)
	proctest.Eventually(t, "mig ran out", func() bool {
		return h.do("status", map[string]any{"name": "mig"})["status"] == "stopped"
	})
	reply := doAsync(h, "reloadconfig", map[string]any{"waiting": true})
	proctest.Eventually(t, "mig running again", func() bool {
		return len(h.do("list", map[string]any{"name": "mig"})["pids"].([]int)) == 1
	})
	if rows, _ := h.do("status", map[string]any{"name": "app"})["overrides"].([]map[string]any); len(rows) > 0 {
		t.Errorf("app's held update shows as run-time values: %v", rows)
	}
	if r := <-reply; r["status"] != "ok" {
		t.Fatalf("reloadconfig: %v", r)
	}
}
