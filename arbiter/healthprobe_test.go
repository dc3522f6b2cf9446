package arbiter

import (
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

// TestSlowHealthProbeIsNotStackedUp: each health round started a probe of
// every ready worker, whether or not the worker's last probe had
// answered. With health_timeout longer than health_interval (a generous
// timeout for a slow endpoint) a worker that stopped answering had one
// more probe in flight every interval: 8 `sh` probes of one hung worker
// after 8 s with interval 1s and timeout 10s, more load on a worker that
// is already too slow,, and the failures counted before any probe in a row
// had taken its timeout. A worker now has at most one probe in flight; the
// next round skips it until that one has answered.
func TestSlowHealthProbeIsNotStackedUp(t *testing.T) {
	dir := t.TempDir()
	hung, ok := filepath.Join(dir, "hung"), filepath.Join(dir, "ok")
	w := testWatcher("hc", "sleep", 2)
	w.HealthCheck = "exec"
	// wid 1's probe never answers within health_timeout; wid 2's passes.
	w.HealthCmd = "sh -c 'if [ $(pool.wid) = 1 ]; then echo p >> " + hung + "; exec sleep 3600; fi; echo p >> " + ok + "'"
	w.HealthInterval, w.HealthTimeout = 20*time.Millisecond, hang // the test ends long before the timeout
	start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{})
	count := func(path string) int {
		b, _ := os.ReadFile(path)
		return strings.Count(string(b), "p\n")
	}
	proctest.Eventually(t, "a probe of wid 1", func() bool { return count(hung) >= 1 })
	// wid 2 is probed in each round: 8 more of its probes are 8 rounds.
	rounds := count(ok) + 8
	proctest.Eventually(t, "8 more health rounds", func() bool { return count(ok) >= rounds })
	if n := count(hung); n != 1 {
		t.Errorf("%d probes of the worker whose probe hangs after 8 rounds, want 1 in flight", n)
	}
}

// TestHealthReplacementSaysWhyInTheLog: a worker that had passed its
// health checks and then failed health_threshold of them in a row was
// replaced with nothing in poold's log but the failures themselves; the
// next line about it was, graceful_timeout later for a hung worker, that
// it "did not stop within graceful_timeout". The log now says it is
// replaced, why, and that its replacement starts first.
func TestHealthReplacementSaysWhyInTheLog(t *testing.T) {
	w, sick := sickWatcher(t, 1, 1)
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{})
	waitPassed(t, h, 1)
	setSick(t, sick, true)
	ev := h.next("recycle", nil)
	want := fmt.Sprintf(`worker failed health_threshold health checks in a row; replacing it, its replacement first: watcher=hc pid=%v wid=1 failures=1 error="exec probe \"test ! -e %s\": exit status 1"`, ev.Fields["process_pid"], sick)
	if !strings.Contains(h.log.String(), want) {
		t.Errorf("poold's log does not say why it replaced the worker, want %q in:\n%s", want, h.log.String())
	}
}

// TestEveryWorkerSickKeepsThemRunning: when every worker failed its
// health check at once (the database they all need is down), poold
// replaced them all; the replacements failed too and were stopped as
// never healthy, so the pool emptied, flapped, and ended failed, empty
// after the database came back. Now one worker is replaced on trial and
// the others keep running until a worker passes again.
func TestEveryWorkerSickKeepsThemRunning(t *testing.T) {
	w, sick := sickWatcher(t, 3, 2)
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{})
	waitPassed(t, h, 3)
	first := map[string]bool{} // pids, as fmt prints them: events and list type them differently
	for _, pid := range h.do("list", map[string]any{"name": "hc"})["pids"].([]int) {
		first[fmt.Sprint(pid)] = true
	}
	setSick(t, sick, true)
	// Until the trial's replacement fails as never healthy, which takes
	// longer than the others take to fail health_threshold checks.
	recycled := map[string]bool{}
	h.next("", func(ev events.Event) bool {
		switch pid := fmt.Sprint(ev.Fields["process_pid"]); ev.Kind {
		case events.KindRecycle:
			recycled[pid] = true
		case events.KindUnhealthy:
			return !first[pid]
		}
		return false
	})
	if len(recycled) != 1 {
		t.Errorf("%d workers replaced while every worker failed its health check, want 1 on trial", len(recycled))
	}
	kept := 0
	for _, pid := range h.do("list", map[string]any{"name": "hc"})["pids"].([]int) {
		if first[fmt.Sprint(pid)] && !recycled[fmt.Sprint(pid)] {
			kept++
		}
	}
	if kept != 2 {
		t.Errorf("%d of the workers not on trial still run, want 2", kept)
	}
	reason := func() string { s, _ := h.do("status", map[string]any{"name": "hc"})["reason"].(string); return s }
	if r := reason(); !strings.Contains(r, "(a cause they share?): poold keeps wid ") {
		t.Errorf("status reason %q does not say why the workers are kept", r)
	}
	setSick(t, sick, false)
	proctest.Eventually(t, "the trial to end once the workers pass again", func() bool {
		return !strings.Contains(reason(), "a cause they share?")
	})
}

// TestSharedOutageNeverFailsASlot: during an outage every worker shares,
// the slot of the worker replaced on trial saw its replacements fail as
// never healthy, flapped, and gave up: `failed`, still empty once the
// outage was over, until someone ran `poolctl start`. It now pauses
// again instead of giving up, and its next worker serves once the
// outage is over.
func TestSharedOutageNeverFailsASlot(t *testing.T) {
	w, sick := sickWatcher(t, 2, 1)
	// Give up at the first crash loop: 1 early death, no pause to spare.
	w.FlappingAttempts, w.FlappingMaxRetry, w.FlappingRetryIn = 1, 0, 50*time.Millisecond
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{})
	waitPassed(t, h, 2)
	setSick(t, sick, true)
	pauses := 0
	h.next("", func(ev events.Event) bool {
		switch ev.Kind {
		case events.KindFailed:
			t.Fatalf("a slot gave up during an outage every worker shares: %v", ev.Fields)
		case events.KindFlapping:
			pauses++
		}
		return pauses == 3
	})
	setSick(t, sick, false)
	proctest.Eventually(t, "2 healthy workers and no reason once the outage is over", func() bool {
		r := h.do("status", map[string]any{"name": "hc"})
		reason, _ := r["reason"].(string)
		return reason == "" && len(h.do("list", map[string]any{"name": "hc"})["pids"].([]int)) == 2
	})
}

// sickWatcher is watcher "hc" of n workers whose exec health check,
// every 20 ms, fails while the file sick exists.
func sickWatcher(t *testing.T, n, threshold int) (w configs.Watcher, sick string) {
	sick = filepath.Join(t.TempDir(), "sick")
	w = testWatcher("hc", "sleep", n)
	w.HealthCheck, w.HealthCmd = "exec", "test ! -e "+sick
	w.HealthInterval, w.HealthThreshold = 20*time.Millisecond, threshold
	return w, sick
}

// waitPassed waits until n workers passed their first health check.
func waitPassed(t *testing.T, h *harness, n int) {
	t.Helper()
	proctest.Eventually(t, fmt.Sprintf("%d workers passed a health check", n), func() bool {
		return strings.Count(h.log.String(), "worker passed its first health check") >= n
	})
}

// setSick creates the file sick, or removes it.
func setSick(t *testing.T, sick string, on bool) {
	t.Helper()
	var err error
	if on {
		err = os.WriteFile(sick, nil, 0o644)
	} else {
		err = os.Remove(sick)
	}
	if err != nil {
		t.Fatal(err)
	}
}
