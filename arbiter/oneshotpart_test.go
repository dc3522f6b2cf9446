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

// partOneShot is a one-shot of three workers whose wid 2 exits 7 at once,
// long before ready_delay, while the others run on and count as ready.
func partOneShot() configs.Watcher {
	w := oneShot("part", `if [ $(pool.wid) = 2 ]; then exit 7; fi; exec sleep 1000`, false)
	w.NumProcesses, w.ReadyDelay = 3, 3*time.Second
	return w
}

// A waited start, restart or add of a one-shot answered ok when one of
// its workers failed before it was ready while the others ran, although
// status said failed and /readyz 503 right after: the check skipped every
// exited slot of a watcher that still runs. It fails now, as for a
// one-shot whose every worker ended, naming the slot.
func TestWaitedRunOfAOneShotWithOneWorkerFailed(t *testing.T) {
	for _, cmd := range []string{"start", "restart", "add"} {
		t.Run(cmd, func(t *testing.T) {
			w := partOneShot()
			cfg := &configs.Config{Watchers: []configs.Watcher{testWatcher("web", "sleep", 1)}}
			props := map[string]any{"name": "part", "waiting": true}
			if cmd == "add" {
				props["cmd"], props["args"], props["start"] = w.Cmd, w.Args, true
				props["options"] = map[string]any{"respawn": false, "numprocesses": 3, "readiness": "delay", "ready_delay": w.ReadyDelay.Seconds()}
			} else {
				cfg.Watchers = append(cfg.Watchers, w)
			}
			h := start(t, cfg, Options{})
			ctx, cancel := context.WithTimeout(context.Background(), hang)
			defer cancel()
			r := h.a.Do(ctx, Request{ID: "t", Command: cmd, Properties: props})
			reason := fmt.Sprint(r["reason"])
			for _, want := range []string{`watcher "part" had a worker fail: wid 2 (pid `, "exited with status 7",
				"poolctl logs part --wid 2", "run `restart part`"} {
				if r["errno"] != ErrnoAsync || !strings.Contains(reason, want) {
					t.Errorf("waited %s of a one-shot whose wid 2 failed: %v; want errno 6 saying %q", cmd, r, want)
				}
			}
			if st := h.do("status", map[string]any{"name": "part"}); st["state"] != "failed" {
				t.Errorf("status after it: %v, want failed", st)
			}
		})
	}
}

// A failed one-shot's status reason words two slots by wid: with wid 5 of
// five failing, it named wids 1 and 2, which exited 0, pointed to wid 1's
// output, and never named the failure. Failures come first now.
func TestFailedOneShotReasonNamesTheFailureFirst(t *testing.T) {
	w := oneShot("five", `if [ $(pool.wid) = 5 ]; then exit 9; fi; exit 0`, true)
	w.NumProcesses = 5
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	r := h.a.Do(ctx, Request{ID: "t", Command: "start", Properties: map[string]any{"name": "five", "waiting": true}})
	if !strings.HasPrefix(fmt.Sprint(r["reason"]), `start: watcher "five" ran and failed: wid 5 (pid `) {
		t.Errorf("waited start: %v; want the failure of wid 5 first", r)
	}
	var st Reply
	proctest.Eventually(t, "five shows failed", func() bool {
		st = h.do("status", map[string]any{"name": "five"})
		return st["state"] == "failed"
	})
	if reason := fmt.Sprint(st["reason"]); !strings.HasPrefix(reason, "wid 5 exited with status 9 and respawn is off; see its output: poolctl logs five --wid 5") {
		t.Errorf("status reason of five: %q; want it to begin with wid 5's failure and its output", reason)
	}
}

// A waited reload of a stopped one-shot runs it again, as circusd's
// does, but answered ok however it ended and never said how: the check
// looked only at the watchers that ran before the reload. It answers as
// a start now, named or not.
func TestWaitedReloadOfAStoppedOneShotSaysHowItEnded(t *testing.T) {
	h := start(t, &configs.Config{Watchers: []configs.Watcher{
		testWatcher("web", "sleep", 1), oneShot("bad", "exit 3", true), oneShot("good", "exit 0", true),
	}}, Options{})
	h.spawned()
	reload := func(props map[string]any) Reply {
		ctx, cancel := context.WithTimeout(context.Background(), hang)
		defer cancel()
		props["waiting"] = true
		return h.a.Do(ctx, Request{ID: "t", Command: "reload", Properties: props})
	}
	if r := reload(map[string]any{"name": "good"}); r["status"] != "ok" ||
		!strings.Contains(fmt.Sprint(r["ended"]), `watcher "good" ran and ended: wid 1 (pid `) {
		t.Errorf("waited reload of a one-shot that exits 0: %v; want ok, with ended saying so", r)
	}
	for _, props := range []map[string]any{{"name": "bad"}, {}} {
		r := reload(props)
		if reason := fmt.Sprint(r["reason"]); r["errno"] != ErrnoAsync || !strings.Contains(reason, `watcher "bad" ran and failed: wid 1 (pid `) ||
			!strings.Contains(reason, "exited with status 3") {
			t.Errorf("waited reload %v of a one-shot that exits 3: %v; want errno 6 saying how it failed", props, r)
		}
	}
}

// The ok reply of a waited run of a one-shot listed no pid in
// info.started (the worker had ended by then), where circusd lists the
// pid it started; it lists it now, the pid its ended field names.
func TestWaitedRunOfAOneShotListsThePidItStarted(t *testing.T) {
	for _, cmd := range []string{"start", "restart", "add"} {
		t.Run(cmd, func(t *testing.T) {
			r := waitedRun(t, cmd, oneShot("os", "exit 0", true))
			info, _ := r["info"].(map[string]any)
			started := info["started"]
			if cmd == "add" {
				started = r["started"]
			}
			pids, _ := started.([]int)
			if r["status"] != "ok" || len(pids) != 1 || !strings.Contains(fmt.Sprint(r["ended"]), fmt.Sprintf("(pid %d)", pids[0])) {
				t.Errorf("waited %s of a one-shot that exits 0: %v; want started to list the pid ended names", cmd, r)
			}
		})
	}
}

// The end reply of a one-shot of many workers named every slot (200
// workers: 8 KB on one line). It words the failure first, then a few
// slots, then counts the rest.
func TestOneShotEndReplyIsBounded(t *testing.T) {
	w := oneShot("many", `if [ $(pool.wid) = 12 ]; then exit 4; fi; exit 0`, true)
	w.NumProcesses = 12
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	r := h.a.Do(ctx, Request{ID: "t", Command: "start", Properties: map[string]any{"name": "many", "waiting": true}})
	reason := fmt.Sprint(r["reason"])
	if !strings.HasPrefix(reason, `start: watcher "many" ran and failed: wid 12 (pid `) ||
		!strings.Contains(reason, "and 9 more ended as configured (wids 3, 4, 5, 6, 7, 8, 9, 10, ...)") || strings.Count(reason, "(pid ") != 3 {
		t.Errorf("waited start of a one-shot of 12 workers, wid 12 failing: %v; want wid 12 first, two more, then a count", r)
	}
}
