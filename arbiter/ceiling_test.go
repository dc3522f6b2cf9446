package arbiter

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/proctest"
)

// Defect: `incr s 2147483648` was accepted and fork-bombed the machine.
func TestIncrBeyondCeilingIsRefused(t *testing.T) {
	w := testWatcher("s", "sleep", 1)
	w.MaxProcesses = 50
	other := testWatcher("o", "sleep", 1)
	cfg := &configs.Config{Arbiter: configs.DefaultArbiter(), Watchers: []configs.Watcher{w, other}}
	cfg.Arbiter.MaxProcesses = 60
	h := start(t, cfg, Options{})
	h.spawns(2)
	expectRefused(t, h, []refusal{
		{"incr", map[string]any{"name": "s", "nb": 2147483648}, `incr: watcher "s" would have 2147483649 workers, over its max_processes 50`},
		{"incr", map[string]any{"name": "o", "nb": 59}, `incr: watcher "o" with 60 workers makes 61 in all, over arbiter.max_processes 60`},
		{"set", map[string]any{"name": "s", "options": map[string]any{"numprocesses": 51}}, "numprocesses: 51 is over max_processes 50"},
		{"add", map[string]any{"name": "n", "cmd": "/bin/true", "options": map[string]any{"numprocesses": 59}}, "makes 61 in all"},
	})
	if n := h.do("numprocesses", nil)["numprocesses"]; n != 2 {
		t.Errorf("%v workers after refused commands, want 2", n)
	}
}

// Defect: `incr 1500` held status for seconds; a decr during a big spawn
// must act at once.
//
// The workers are /bin/sleep: what counts is the loop's turns while it
// forks, and up to 300 race-built test binaries starting and stopping
// cost CPU the test does not need.
func TestBigIncrKeepsTheLoopAnswering(t *testing.T) {
	w := configs.DefaultWatcher("s")
	w.Cmd, w.Args = "/bin/sleep", []string{"3600"}
	w.GracefulTimeout = 5 * time.Second
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{})
	h.spawns(1)
	h.do("incr", map[string]any{"name": "s", "nb": 299})
	n := h.do("numprocesses", map[string]any{"name": "s"})["numprocesses"].(int)
	if n >= 300 {
		t.Fatalf("numprocesses answered only after all %d spawns", n)
	}
	h.do("decr", map[string]any{"name": "s", "nb": 290})
	proctest.Eventually(t, "pool back to 10 workers", func() bool {
		return h.do("numprocesses", map[string]any{"name": "s"})["numprocesses"] == 10
	})
	spawned := 0
	for {
		select {
		case ev := <-h.sub.C():
			if ev.Kind == "spawn" {
				spawned++
			}
			continue
		default:
		}
		break
	}
	t.Logf("numprocesses answered with %d workers alive; %d spawns in all before the decr took effect", n, spawned+1)
	if spawned+1 >= 300 {
		t.Errorf("all 300 workers were spawned although a decr to 10 came first")
	}
}

// Defect: arbiter.max_processes counts an elastic pool at its
// max_workers (the config check does), but `set NAME max_workers` and
// `add` with max_workers counted the pool at its current size only, so a
// pool could be given room to grow past the ceiling at run time.
func TestElasticCapacityCountsAgainstTheCeiling(t *testing.T) {
	el := testWatcher("el", "serve", 1)
	el.Sockets = []string{"front"}
	el.MinWorkers, el.MaxWorkers = 1, 4
	other := testWatcher("o", "sleep", 4)
	cfg := &configs.Config{Arbiter: configs.DefaultArbiter(), Sockets: []configs.Socket{tcpSocket("front")},
		Watchers: []configs.Watcher{el, other}}
	cfg.Arbiter.MaxProcesses = 9
	h := start(t, cfg, Options{})
	h.spawns(5)
	expectRefused(t, h, []refusal{
		{"set", map[string]any{"name": "el", "options": map[string]any{"max_workers": 6}},
			`set: watcher "el" growing to its max_workers 6 makes 10 in all, over arbiter.max_processes 9`},
		{"add", map[string]any{"name": "n", "cmd": "/bin/true",
			"options": map[string]any{"sockets": []any{"front"}, "on_demand": true, "numprocesses": 0, "max_workers": 3}},
			`add: watcher "n" growing to its max_workers 3 makes 11 in all, over arbiter.max_processes 9`},
	})
	if sz := h.size("el"); sz["max"] != 4 {
		t.Errorf("el's size after a refused set %v, want max 4", sz)
	}
	if n := h.do("numwatchers", nil)["numwatchers"]; n != 2 {
		t.Errorf("%v watchers after a refused add, want 2", n)
	}
	// Within the ceiling, and options that do not raise the capacity, are
	// accepted.
	h.do("set", map[string]any{"name": "el", "options": map[string]any{"max_workers": 5}})
	h.do("set", map[string]any{"name": "el", "options": map[string]any{"graceful_timeout": 3}})
	h.do("incr", map[string]any{"name": "el", "nb": 9})
}

// refusal is a command that must be refused with errno 3 and a reason
// containing want.
type refusal struct {
	cmd   string
	props map[string]any
	want  string
}

func expectRefused(t *testing.T, h *harness, cases []refusal) {
	t.Helper()
	for _, tc := range cases {
		r := h.a.Do(context.Background(), Request{ID: "c", Command: tc.cmd, Properties: tc.props})
		if r["errno"] != ErrnoBadProperty || !strings.Contains(fmt.Sprint(r["reason"]), tc.want) {
			t.Errorf("%s %v: %v, want errno 3 with %q", tc.cmd, tc.props, r, tc.want)
		}
	}
}
