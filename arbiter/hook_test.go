package arbiter

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher/proctest"
)

// hookScript writes an executable shell script into dir.
func hookScript(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// A failing before_start stops the start: no worker runs, the watcher is
// stopped again, hook_failure says why; the hook saw its event in its
// environment.
func TestBeforeStartHookFailureStopsTheStart(t *testing.T) {
	dir := t.TempDir()
	seen := filepath.Join(dir, "seen")
	w := testWatcher("web", "serve", 2)
	w.Sockets = []string{"web"}
	w.Autostart = false
	w.Hooks = map[string]string{"before_start": hookScript(t, dir, "no.sh", `echo "$POOLD_HOOK $POOLD_WATCHER" > `+seen+"\necho refusing >&2\nexit 3\n")}
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{w}}, Options{})
	// A waited start fails with the hook's last line, as systemctl start
	// fails on a failed ExecStartPre=; status keeps the reason.
	r := h.a.Do(context.Background(), Request{ID: "s", Command: "start", Properties: map[string]any{"name": "web", "waiting": true}})
	const why = `the before_start hook failed: command "` // then the script's path
	if reason := fmt.Sprint(r["reason"]); r["errno"] != ErrnoAsync || !strings.Contains(reason, `watcher "web" was not started: `+why) || !strings.HasSuffix(reason, "exit status 3: refusing") {
		t.Errorf("waited start with before_start failing: %v", r)
	}
	ev := h.next(string(events.KindHookFailure), nil)
	if ev.Fields["name"] != "before_start" || !strings.Contains(ev.Fields["error"].(string), "exit status 3: refusing") {
		t.Errorf("hook_failure %v", ev.Fields)
	}
	if r := h.do("status", map[string]any{"name": "web"}); r["status"] != "stopped" || !strings.Contains(fmt.Sprint(r["reason"]), "not started: "+why) {
		t.Errorf("status after a failed before_start: %v", r)
	}
	if r := h.do("list", map[string]any{"name": "web"}); len(r["pids"].([]int)) != 0 {
		t.Errorf("workers after a failed before_start: %v", r)
	}
	b, err := os.ReadFile(seen)
	if err != nil || strings.TrimSpace(string(b)) != "before_start web" {
		t.Errorf("hook env: %q %v", b, err)
	}
}

// A slow before_start holds the start while the loop answers other
// commands; the hook is killed at hook_timeout and that counts as a
// failure.
func TestSlowBeforeStartHookKeepsTheLoopAnswering(t *testing.T) {
	dir := t.TempDir()
	w := testWatcher("web", "serve", 1)
	w.Sockets = []string{"web"}
	w.Autostart = false
	w.HookTimeout = 3 * time.Second
	w.Hooks = map[string]string{"before_start": hookScript(t, dir, "slow.sh", "exec sleep 60\n")}
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{w}}, Options{})
	h.do("start", map[string]any{"name": "web"})
	// The hook runs: the watcher shows starting, and commands answer.
	for i := 0; i < 5; i++ {
		if r := h.do("status", map[string]any{"name": "web"}); r["status"] != "starting" {
			t.Fatalf("status while before_start runs: %v", r)
		}
		h.do("list", nil)
	}
	ev := h.next(string(events.KindHookFailure), nil)
	if !strings.Contains(ev.Fields["error"].(string), "gave up after 3s") {
		t.Errorf("timeout: hook_failure %v", ev.Fields)
	}
	proctest.Eventually(t, "the watcher is stopped after the hook timed out", func() bool {
		return h.do("status", map[string]any{"name": "web"})["status"] == "stopped"
	})
}

// A passing before_start lets the start go on; after_spawn and
// before_stop/after_stop run with the event in their environment.
func TestHooksRunInOrder(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "log")
	rec := hookScript(t, dir, "rec.sh", `echo "$POOLD_HOOK $POOLD_WATCHER wid=$POOLD_WID pid=$POOLD_PID exit=$POOLD_EXIT_CODE" >> `+log+"\n")
	w := testWatcher("web", "serve", 2)
	w.Sockets = []string{"web"}
	w.Autostart = false
	w.Hooks = map[string]string{"before_start": rec, "after_spawn": rec, "before_stop": rec, "after_stop": rec, "before_spawn": rec, "before_reap": rec, "after_reap": rec}
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{w}}, Options{})
	h.do("start", map[string]any{"name": "web", "waiting": true})
	if r := h.do("list", map[string]any{"name": "web"}); len(r["pids"].([]int)) != 2 {
		t.Fatalf("workers after start: %v", r)
	}
	h.do("stop", map[string]any{"name": "web", "waiting": true})
	proctest.Eventually(t, "after_stop and both after_reap ran", func() bool {
		b, _ := os.ReadFile(log)
		return strings.Contains(string(b), "after_stop web") && strings.Count(string(b), "after_reap web") == 2
	})
	b, _ := os.ReadFile(log)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if !strings.HasPrefix(lines[0], "before_start web") {
		t.Errorf("hook order:\n%s", b)
	}
	for _, want := range []string{"before_spawn web wid=1", "before_spawn web wid=2", "after_spawn web wid=1 pid=", "before_stop web", "before_reap web wid=1 pid=", "after_reap web wid=2 pid="} {
		if !strings.Contains(string(b), want) {
			t.Errorf("hooks log lacks %q:\n%s", want, b)
		}
	}
	if strings.Index(string(b), "before_stop") > strings.Index(string(b), "after_stop") {
		t.Errorf("before_stop after after_stop:\n%s", b)
	}
	for _, l := range lines {
		if strings.HasPrefix(l, "after_reap") && strings.HasSuffix(l, "exit=") {
			t.Errorf("after_reap without POOLD_EXIT_CODE: %q", l)
		}
	}
}

// A before_spawn that fails for one wid leaves that slot failed and
// starts the others; start releases the failed slot again.
func TestBeforeSpawnHookFailureFailsTheSlot(t *testing.T) {
	dir := t.TempDir()
	w := testWatcher("web", "serve", 2)
	w.Sockets = []string{"web"}
	w.Hooks = map[string]string{"before_spawn": hookScript(t, dir, "wid2.sh", `[ "$POOLD_WID" != 2 ] || { echo "no wid 2" >&2; exit 1; }`+"\n")}
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{w}}, Options{})
	ev := h.next(string(events.KindFailed), nil)
	if ev.Fields["process_id"] != 2 || !strings.Contains(ev.Fields["reason"].(string), "before_spawn hook failed") {
		t.Errorf("failed event %v", ev.Fields)
	}
	proctest.Eventually(t, "wid 1 runs, wid 2 failed", func() bool {
		r := h.do("status", map[string]any{"name": "web"})
		l := h.do("list", map[string]any{"name": "web"})
		return r["state"] == "failed" && len(l["pids"].([]int)) == 1
	})
	h.do("start", map[string]any{"name": "web"})
	h.next(string(events.KindFailed), nil) // the hook still refuses wid 2
}

// A Kill while before_stop runs does not wait for the hook.
func TestKillDoesNotWaitForBeforeStop(t *testing.T) {
	dir := t.TempDir()
	w := testWatcher("web", "serve", 1)
	w.Sockets = []string{"web"}
	w.HookTimeout = time.Minute
	w.Hooks = map[string]string{"before_stop": hookScript(t, dir, "slow.sh", "exec sleep 60\n")}
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{w}}, Options{})
	h.spawns(1)
	h.do("stop", map[string]any{"name": "web"})
	if r := h.do("status", map[string]any{"name": "web"}); r["status"] != "stopping" {
		t.Fatalf("status while before_stop runs: %v", r)
	}
	if r := h.do("list", map[string]any{"name": "web"}); len(r["pids"].([]int)) != 1 {
		t.Fatalf("the worker should run until before_stop ends: %v", r)
	}
	// poold's third SIGTERM (Kill): the stop goes on without the hook.
	h.a.Kill()
	h.next(string(events.KindStop), func(ev events.Event) bool { return ev.Watcher == "web" })
}

// TestKillCommandEndsAStopHeldByBeforeStop: `poolctl kill NAME` while a
// stop waits for a hung before_stop killed the workers but left the
// watcher stopping, and a start behind it waiting, until hook_timeout.
// The README's "a second kill does not wait for it" holds for the kill
// command too: the stop completes once the workers are gone.
func TestKillCommandEndsAStopHeldByBeforeStop(t *testing.T) {
	dir := t.TempDir()
	w := testWatcher("web", "sleep", 2)
	w.HookTimeout = time.Minute
	w.Hooks = map[string]string{"before_stop": hookScript(t, dir, "slow.sh", "exec sleep 60\n")}
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{})
	pids := h.spawns(2)
	h.do("stop", map[string]any{"name": "web"})
	for pid := range pids {
		h.do("kill", map[string]any{"name": "web", "pid": pid, "signum": "KILL"})
		break // one worker: the stop goes on for the other as well
	}
	h.next(string(events.KindStop), func(ev events.Event) bool { return ev.Watcher == "web" })
	h.do("start", map[string]any{"name": "web", "waiting": true})
	if l := h.do("list", map[string]any{"name": "web"}); len(l["pids"].([]int)) != 2 {
		t.Errorf("workers after the start: %v", l)
	}
	// The same for every worker, and the test's own end needs no wait.
	h.do("stop", map[string]any{"name": "web"})
	h.do("kill", map[string]any{"name": "web", "signum": "KILL"})
	h.next(string(events.KindStop), func(ev events.Event) bool { return ev.Watcher == "web" })
}

// TestAfterStartWaitsForBeforeSpawn: after_start ran as soon as the
// watcher started when before_spawn was set: the slots waiting on their
// hook counted as done, so after_start (a load balancer registration,
// say) ran before any worker existed. It now runs once the workers do.
func TestAfterStartWaitsForBeforeSpawn(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "log")
	w := testWatcher("web", "sleep", 2)
	w.Hooks = map[string]string{
		"before_spawn": hookScript(t, dir, "spawn.sh", "sleep 0.3\necho \"before_spawn $POOLD_WID\" >> "+log+"\n"),
		"after_start":  hookScript(t, dir, "started.sh", "echo after_start >> "+log+"\n"),
	}
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{})
	h.next(string(events.KindHookSuccess), func(ev events.Event) bool { return ev.Fields["name"] == "after_start" })
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Fields(strings.ReplaceAll(string(b), "before_spawn ", "before_spawn_")); len(lines) != 3 || lines[2] != "after_start" {
		t.Errorf("hooks ran in this order, want both before_spawn before after_start:\n%s", b)
	}
}

// TestFailingAfterStartFailsTheWaitedStart: a failing after_start stopped
// the watcher, but a waited start had already answered ok and status gave
// no reason. The start is now done once after_start is (systemd's
// ExecStartPost=): a waited start fails with the hook's line, and status
// keeps it.
func TestFailingAfterStartFailsTheWaitedStart(t *testing.T) {
	dir := t.TempDir()
	w := testWatcher("af", "sleep", 1)
	w.Autostart = false
	w.Hooks = map[string]string{"after_start": hookScript(t, dir, "lb.sh", "echo registering\necho 'LB refused: 503' >&2\nexit 1\n")}
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{})
	r := h.a.Do(context.Background(), Request{ID: "s", Command: "start", Properties: map[string]any{"name": "af", "waiting": true}})
	if reason := fmt.Sprint(r["reason"]); r["errno"] != ErrnoAsync || !strings.Contains(reason, `watcher "af" was not started: the after_start hook failed: command`) || !strings.HasSuffix(reason, "exit status 1: LB refused: 503") {
		t.Errorf("waited start with after_start failing: %v", r)
	}
	if st := h.do("status", map[string]any{"name": "af"}); st["status"] != "stopped" || !strings.Contains(fmt.Sprint(st["reason"]), "not started: the after_start hook failed") {
		t.Errorf("status after a failed after_start: %v", st)
	}
}

// TestBeforeSpawnFailureReasonTellsNoPauses: a slot whose before_spawn
// hook failed gives up at once, with no pause; its status said "it gave
// up after 5 pauses" (the flapping_max_retry), which sent the user
// looking for a crash loop that never happened.
func TestBeforeSpawnFailureReasonTellsNoPauses(t *testing.T) {
	dir := t.TempDir()
	w := testWatcher("web", "sleep", 1)
	w.FlappingMaxRetry = 5
	w.Hooks = map[string]string{"before_spawn": hookScript(t, dir, "no.sh", "echo 'no database' >&2; exit 3\n")}
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{})
	h.next(string(events.KindFailed), nil)
	r := h.do("status", map[string]any{"name": "web"})
	reason, _ := r["reason"].(string)
	if r["state"] != "failed" || !strings.Contains(reason, "before_spawn hook failed") ||
		!strings.Contains(reason, "no database") || strings.Contains(reason, "pause") {
		t.Errorf("status reply %v, want failed naming the hook and no pauses", r)
	}
}
