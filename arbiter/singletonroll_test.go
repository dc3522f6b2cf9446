package arbiter

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher/workertest"
)

// TestSingletonRollNeverRunsTwo: a singleton changed by a config reload,
// a set or a reload was rolled over the way a pool is, its new worker
// started first, so two schedulers ran side by side until the old one
// ended, up to graceful_timeout (r59b review: 3.5 s). circusd's
// reload_from_config stops a changed watcher, then starts it. Each way
// must stop the old worker, and wait for its end, before the new one
// starts: the old one here ignores SIGTERM, so it ends only at its
// graceful_timeout's SIGKILL.
func TestSingletonRollNeverRunsTwo(t *testing.T) {
	changed := func(w configs.Watcher) configs.Watcher {
		w.Env = append(append([]string(nil), w.Env...), "V=2")
		return w
	}
	cases := []struct {
		name string
		cmd  string
		prop map[string]any
	}{
		{"reloadconfig", "reloadconfig", map[string]any{"waiting": true}},
		{"set", "set", map[string]any{"name": "cron", "options": map[string]any{"env": []any{workertest.Env + "=stubborn", "V=3"}}, "waiting": true}},
		{"reload", "reload", map[string]any{"name": "cron", "waiting": true}},
		{"sequential reload", "reload", map[string]any{"name": "cron", "sequential": true, "waiting": true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := stubbornOn("cron", "s", 1)
			w.Singleton = true
			w.GracefulTimeout = 300 * time.Millisecond
			cfg := &configs.Config{Sockets: []configs.Socket{tcpSocket("s")}, Watchers: []configs.Watcher{w}}
			h := start(t, cfg, Options{Load: func() (*configs.Config, error) {
				c := *cfg
				c.Watchers = []configs.Watcher{changed(w)}
				return &c, nil
			}})
			live := map[int]bool{h.spawned(): true}
			h.serving("s") // ignores SIGTERM from now on
			reply := doAsync(h, tc.cmd, tc.prop)
			neverTwo(t, h, live, 1)
			select {
			case r := <-reply:
				if r["status"] != "ok" {
					t.Fatalf("%s replied %v", tc.cmd, r)
				}
			case <-time.After(hang):
				t.Fatalf("%s not answered within %v", tc.cmd, hang)
			}
			h.next(string(events.KindReload), nil) // the rollout is over, and says so
		})
	}
}

// TestSingletonAbandonedRollSaysItsWorkerStopped: a singleton's rollout
// stops its old worker first, so when the new one fails, nothing kept
// serving: poold starts one with the previous settings. The reply said
// "the old workers keep serving" (r59b zd2), as for a pool.
func TestSingletonAbandonedRollSaysItsWorkerStopped(t *testing.T) {
	w := testWatcher("cron", "sleep", 1)
	w.Singleton = true
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{})
	h.spawned()
	// The new worker must fail before it counts as ready, on any machine:
	// with readiness "spawn" and no socket it was ready once alive 100 ms,
	// and a -race test binary may take longer than that to reach its
	// exit under load (2 in 6 runs). Ready only after 30 s, it fails.
	r := h.a.Do(context.Background(), Request{ID: "s", Command: "set", Properties: map[string]any{"name": "cron",
		"options": map[string]any{"env": []any{workertest.Env + "=crash"}, "readiness": "delay", "ready_delay": hang.Seconds() / 2}, "waiting": true}})
	reason := fmt.Sprint(r["reason"])
	if r["status"] != "error" || !strings.Contains(reason, "its old worker had stopped first (singleton): one with the previous settings starts again") {
		t.Fatalf("set of a singleton whose new worker crashes replied %v", r)
	}
	if strings.Contains(reason, "old workers keep serving") {
		t.Errorf("the reply says the old workers keep serving: %s", reason)
	}
}
