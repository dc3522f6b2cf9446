package arbiter

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/poold/poold/configs"
)

// TestSetToTheSameValueRollsOver: circusd rolls a watcher's workers over
// for a set of cmd, args or env whatever the value (a deploy that swaps
// the program in place, then sets cmd to the same path, restarts onto
// it); poold published updated and kept the old workers. It now rolls
// them over too, and a set of a key that needs no new workers does not.
func TestSetToTheSameValueRollsOver(t *testing.T) {
	w := testWatcher("web", "sleep", 1)
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{})
	h.spawned()
	for _, opts := range []map[string]any{{"cmd": w.Cmd}, {"env": w.Env}, {"args": nil, "graceful_timeout": 5}} {
		old := h.do("list", map[string]any{"name": "web"})["pids"].([]int)
		h.do("set", map[string]any{"name": "web", "waiting": true, "options": opts})
		now := h.do("list", map[string]any{"name": "web"})["pids"].([]int)
		if len(now) != 1 || slices.Contains(old, now[0]) {
			t.Errorf("set %v (the values it runs with): workers %v, before %v; want them replaced, as circusd's", opts, now, old)
		}
		h.next("reload", nil)
	}
	old := h.do("list", map[string]any{"name": "web"})["pids"].([]int)
	h.do("set", map[string]any{"name": "web", "waiting": true, "options": map[string]any{"graceful_timeout": 5}})
	if now := h.do("list", map[string]any{"name": "web"})["pids"].([]int); fmt.Sprint(now) != fmt.Sprint(old) {
		t.Errorf("set graceful_timeout: workers %v, before %v; want them kept", now, old)
	}
}

// TestWaitedSetSupersededFails: two waited sets of env to one watcher at
// once both answered ok, though the first one's workers were killed
// before they were ready and only the second's env runs. The first now
// answers errno 6, as a waited incr whose size a later change undid;
// the second, whose env runs, answers ok.
func TestWaitedSetSupersededFails(t *testing.T) {
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{notifyWatcher(1)}}, Options{})
	readyPids(t, h, "web", 1)
	broken := neverReady(notifyWatcher(1))
	first := doAsync(h, "set", map[string]any{"name": "web", "waiting": true,
		"options": map[string]any{"env": append(broken.Env, "V=a"), "ready_timeout": 3600}})
	h.spawned() // the first set's new worker, which never gets ready
	second := doAsync(h, "set", map[string]any{"name": "web", "waiting": true,
		"options": map[string]any{"env": notifyWatcher(1).Env}})
	r := awaitReply(t, "first set", first)
	if reason := fmt.Sprint(r["reason"]); r["errno"] != ErrnoAsync || !strings.Contains(reason, `watcher "web" no longer runs what this set gave it (env, ready_timeout): a later set`) {
		t.Errorf("waited set whose env a later set replaced: %v; want errno %d saying so", r, ErrnoAsync)
	}
	if r := awaitReply(t, "second set", second); r["status"] != "ok" {
		t.Errorf("the later set, whose env runs: %v, want ok", r)
	}
}
