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
)

// traceHook is a hook script that appends "NAME begin" and, after pause
// seconds, "NAME end" to file, NAME being the watcher and the hook.
func traceHook(t *testing.T, dir, file, pause string) string {
	t.Helper()
	return hookScript(t, dir, "trace-"+pause+".sh",
		`echo "$POOLD_WATCHER $POOLD_HOOK begin" >> `+file+"\nsleep "+pause+"\n"+
			`echo "$POOLD_WATCHER $POOLD_HOOK end" >> `+file+"\n")
}

// traceLines reads the trace file as lines.
func traceLines(t *testing.T, file string) []string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// before reports whether line a comes before line b (both present).
func before(lines []string, a, b string) bool {
	ia, ib := -1, -1
	for i, l := range lines {
		if l == a && ia < 0 {
			ia = i
		}
		if l == b && ib < 0 {
			ib = i
		}
	}
	return ia >= 0 && ib >= 0 && ia < ib
}

// TestQuitRunsAfterStopAndReapHooksToTheEnd: at quit poold exited as soon
// as the workers were gone, so an after_stop or after_reap still running
// was killed midway (silently) and a dependency's after_stop never ran at
// all. Circus runs them before it exits, as systemd runs ExecStopPost=.
// The shutdown now waits for every hook in flight, and a dependent's
// stop, after_stop included, is done before its dependency's begins.
func TestQuitRunsAfterStopAndReapHooksToTheEnd(t *testing.T) {
	dir := t.TempDir()
	trace := filepath.Join(dir, "trace")
	slow := traceHook(t, dir, trace, "0.3")
	db := testWatcher("db", "sleep", 1)
	db.Hooks = map[string]string{"before_stop": slow, "after_stop": slow, "after_reap": slow}
	web := testWatcher("web", "sleep", 2)
	web.DependsOn = []string{"db"}
	web.Hooks = map[string]string{"after_stop": slow, "after_reap": slow}
	h := start(t, &configs.Config{Watchers: []configs.Watcher{db, web}}, Options{})
	h.next(string(events.KindStart), func(ev events.Event) bool { return ev.Watcher == "web" })
	h.do("quit", map[string]any{"waiting": true})

	lines := traceLines(t, trace)
	for _, want := range []string{"web after_stop end", "db after_stop end", "db before_stop end"} {
		if !before(lines, strings.Replace(want, " end", " begin", 1), want) {
			t.Errorf("%q did not run to its end before poold stopped:\n%s", want, strings.Join(lines, "\n"))
		}
	}
	if n := strings.Count(strings.Join(lines, "\n"), "web after_reap end"); n != 2 {
		t.Errorf("%d of web's 2 after_reap hooks ran to their end before poold stopped:\n%s", n, strings.Join(lines, "\n"))
	}
	if !strings.Contains(h.log.String(), "waiting for hooks still running before exiting") {
		t.Errorf("the shutdown waited for hooks without saying so")
	}
	if !before(lines, "web after_stop end", "db before_stop begin") {
		t.Errorf("db (a dependency) began to stop before web's after_stop ended:\n%s", strings.Join(lines, "\n"))
	}
}

// TestRestartWaitsForAfterStop: restart (and a waited stop) went on while
// after_stop still ran, so a deregistration in after_stop raced the next
// before_start's registration. A stop is now done once after_stop is,
// as in Circus, whose restart is its stop then its start.
func TestRestartWaitsForAfterStop(t *testing.T) {
	dir := t.TempDir()
	trace := filepath.Join(dir, "trace")
	w := testWatcher("web", "sleep", 1)
	w.HookTimeout = time.Minute
	w.Hooks = map[string]string{"after_stop": traceHook(t, dir, trace, "0.3"), "before_start": traceHook(t, dir, trace, "0")}
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{})
	h.next(string(events.KindStart), func(ev events.Event) bool { return ev.Watcher == "web" })
	h.do("restart", map[string]any{"name": "web", "waiting": true})
	lines := traceLines(t, trace)
	want := "web before_start begin,web before_start end,web after_stop begin,web after_stop end,web before_start begin,web before_start end"
	if strings.Join(lines, ",") != want {
		t.Errorf("restart: want before_start, then after_stop to its end, then before_start:\n%s", strings.Join(lines, "\n"))
	}
	h.do("stop", map[string]any{"name": "web", "waiting": true})
	lines = traceLines(t, trace)
	if last := lines[len(lines)-1]; last != "web after_stop end" {
		t.Errorf("a waited stop answered before after_stop ended:\n%s", strings.Join(lines, "\n"))
	}
}

// TestSlowAfterStopHoldsOnlyWhatItNeeds: an ordered stop waited for a
// watcher's after_stop before it began to stop every watcher of a higher
// priority, not only those it depends on: one slow hook kept the rest of
// the pools serving, untouched, for up to hook_timeout a level, and a
// quit took 66 s where it took 0.5 s (the stops reviewer).
func TestSlowAfterStopHoldsOnlyWhatItNeeds(t *testing.T) {
	dir := t.TempDir()
	trace := filepath.Join(dir, "trace")
	gate := filepath.Join(dir, "gate")
	slow := hookScript(t, dir, "slow.sh", `echo "$POOLD_WATCHER $POOLD_HOOK begin" >> `+trace+`
while [ ! -e `+gate+` ]; do sleep 0.05; done
echo "$POOLD_WATCHER $POOLD_HOOK end" >> `+trace+"\n")
	low := testWatcher("low", "sleep", 1)
	low.Hooks = map[string]string{"after_stop": slow}
	low.HookTimeout = time.Minute
	high := testWatcher("high", "sleep", 1)
	high.Priority = 10
	h := start(t, &configs.Config{Watchers: []configs.Watcher{low, high}}, Options{})
	h.next(string(events.KindStart), func(ev events.Event) bool { return ev.Watcher == "high" })
	h.next(string(events.KindStart), func(ev events.Event) bool { return ev.Watcher == "low" })
	quit := make(chan Reply, 1)
	go func() {
		quit <- h.a.Do(context.Background(), Request{ID: "q", Command: "quit", Properties: map[string]any{"waiting": true}})
	}()
	// high stops while low's after_stop still runs (the gate is shut):
	// it used to wait for that hook, which waits for the gate.
	h.next(string(events.KindStop), func(ev events.Event) bool { return ev.Watcher == "high" })
	if lines := traceLines(t, trace); slices.Contains(lines, "low after_stop end") {
		t.Errorf("low's after_stop ended with its gate shut: %q", lines)
	}
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if r := <-quit; r["status"] != "ok" {
		t.Errorf("quit: %v", r)
	}
}

// TestStatusSaysAfterStopRuns: while a watcher's after_stop ran, status
// said "stopped" with no reason, although a waited stop, a restart and
// what the watcher depends on were still waiting for the hook.
func TestStatusSaysAfterStopRuns(t *testing.T) {
	dir := t.TempDir()
	gate := filepath.Join(dir, "gate")
	w := testWatcher("web", "sleep", 1)
	w.HookTimeout = time.Minute
	w.Hooks = map[string]string{"after_stop": hookScript(t, dir, "slow.sh", `while [ ! -e `+gate+` ]; do sleep 0.05; done`+"\n")}
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{})
	h.next(string(events.KindStart), func(ev events.Event) bool { return ev.Watcher == "web" })
	h.do("stop", map[string]any{"name": "web"})
	h.next(string(events.KindStop), func(ev events.Event) bool { return ev.Watcher == "web" })
	r := h.do("status", map[string]any{"name": "web"})
	if !strings.Contains(fmt.Sprint(r), "after_stop hook runs") {
		t.Errorf("status while after_stop runs: %v, want a reason naming the hook", r)
	}
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}
