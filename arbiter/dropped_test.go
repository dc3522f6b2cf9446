package arbiter

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/arbiter/wire"
	"github.com/poold/poold/configs"
)

// A command whose caller gave up before the loop took it is either run
// or answered "not run" (wire.NotRun), never both: the HTTP API's
// hand-over view tells its client to send such a command again, and a
// loop that ran it anyway (after an exec that failed) ran it twice.
func TestCommandGivenUpIsNotRunOrRun(t *testing.T) {
	w := testWatcher("web", "sleep", 0)
	w.Autostart = false // incr only counts: nothing spawns
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{})
	notRun := 0
	const n = 300
	for i := range n {
		// Deadlines from 0 to 300 µs: some pass before the loop takes
		// the command, some while it runs it, some after.
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i)*time.Microsecond)
		r := h.a.Do(ctx, Request{ID: "t", Command: "incr", Properties: map[string]any{"name": "web"}})
		cancel()
		if v, _ := r[wire.NotRun].(bool); v {
			notRun++
		}
	}
	got := numprocessesSet(h)
	if want := float64(n - notRun); toFloat(got) != want {
		t.Errorf("%d incrs, %d answered not run: numprocesses %v, want %v", n, notRun, got, want)
	}
	if notRun == 0 || notRun == n {
		t.Logf("all %d incrs went one way (%d not run): the race was not exercised", n, notRun)
	}
}

// The loop skips a command its caller dropped.
func TestLoopSkipsADroppedCommand(t *testing.T) {
	w := testWatcher("web", "sleep", 0)
	w.Autostart = false
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{})
	m := &cmdMsg{req: Request{Command: "incr", Properties: map[string]any{"name": "web"}}, reply: make(chan answer, 1),
		who: func() string { return "a client that gave up" }}
	if !m.drop() {
		t.Fatal("a command nobody took could not be dropped")
	}
	h.a.post(m)
	if got := numprocessesSet(h); toFloat(got) != 0 {
		t.Errorf("numprocesses %v after a dropped incr, want 0", got)
	}
	if strings.Contains(h.log.String(), "command received: command=incr") {
		t.Errorf("a dropped command was logged as taken:\n%s", h.log.String())
	}
}

// numprocessesSet is web's numprocesses option (a stopped watcher runs
// none of them).
func numprocessesSet(h *harness) any {
	opts, _ := h.do("get", map[string]any{"name": "web", "keys": []any{"numprocesses"}})["options"].(Ordered)
	return opts.Values["numprocesses"]
}

func toFloat(v any) float64 {
	switch v := v.(type) {
	case int:
		return float64(v)
	case float64:
		return v
	}
	return -1
}
