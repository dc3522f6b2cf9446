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

// The restart counts a user reads (stats, status NAME) for a worker that
// poold replaced the rolling way. A worker over max_rss, or one that
// failed its health checks after it had passed them, is replaced by a
// worker in another wid, and RESTARTS was per wid: the replacement showed
// 0, status NAME said nothing, and a pool that leaked and was recycled
// every few minutes looked healthy everywhere but in /metrics. The
// replacement now carries on its predecessor's count, one more, and
// status NAME tallies the watcher's restarts by reason with the last one.

// TestLimitReplacementCountsARestart: a worker over a low max_rss.
func TestLimitReplacementCountsARestart(t *testing.T) {
	w := testWatcher("leaky", "hoard", 1)
	w.MaxRSS = 64 << 20
	w.LimitThreshold = 2
	w.BackoffReset = 100 * time.Millisecond // past this, a slow leak: replaced rolling
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{})
	sampleEvery(t, h, 50*time.Millisecond)
	first := h.next("spawn", nil).Fields["process_pid"].(int)
	h.next("recycle", func(ev events.Event) bool { return ev.Fields["process_pid"] == first })
	next := h.next("spawn", nil)
	if wid := next.Fields["process_id"].(int); wid == 1 {
		t.Fatalf("the replacement started in wid 1, want another wid (the rolling path)")
	}
	checkCarried(t, h, "leaky", next.Fields["process_pid"].(int), 1)
	tally := checkTally(t, h, "leaky", "limit", first, 1)
	if why, _ := tally["why"].(string); !strings.Contains(why, "over max_rss") {
		t.Errorf("last restart's why %q, want the limit it went over", why)
	}
}

// TestHealthReplacementCountsARestart: a worker that passed its health
// check, then failed it.
func TestHealthReplacementCountsARestart(t *testing.T) {
	dir := t.TempDir()
	w := testWatcher("hc", "sleep", 2)
	w.HealthCheck, w.HealthCmd = "exec", "test ! -e "+filepath.Join(dir, "sick-$(pool.wid)")
	w.HealthInterval, w.HealthThreshold = 20*time.Millisecond, 2
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{})
	pids := h.spawns(2)
	waitPassed(t, h, 2)
	if err := os.WriteFile(filepath.Join(dir, "sick-1"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	sick := 0
	for pid, wid := range pids {
		if wid == 1 {
			sick = pid
		}
	}
	h.next("recycle", func(ev events.Event) bool { return ev.Fields["process_pid"] == sick })
	next := h.next("spawn", nil).Fields["process_pid"].(int)
	checkCarried(t, h, "hc", next, 1)
	checkTally(t, h, "hc", "unhealthy", sick, 1)
	// A deploy counts nothing: the reload's workers start at 0 and the
	// tally stays.
	h.do("reload", map[string]any{"name": "hc", "waiting": true})
	for pid, in := range h.do("stats", map[string]any{"name": "hc"})["info"].(map[string]ProcInfo) {
		if in.Restarts != 0 {
			t.Errorf("after a reload, pid %s shows %d restarts, want 0", pid, in.Restarts)
		}
	}
	checkTally(t, h, "hc", "unhealthy", sick, 1)
}

// checkCarried waits until pid is listed in name's stats and checks the
// restarts it shows.
func checkCarried(t *testing.T, h *harness, name string, pid, want int) {
	t.Helper()
	var in ProcInfo
	proctest.Eventually(t, fmt.Sprintf("pid %d in the stats of %s", pid, name), func() bool {
		var ok bool
		in, ok = h.do("stats", map[string]any{"name": name})["info"].(map[string]ProcInfo)[fmt.Sprint(pid)]
		return ok
	})
	if in.Restarts != want {
		t.Errorf("the replacement pid %d shows %d restarts in stats, want %d (its predecessor's count, one more)", pid, in.Restarts, want)
	}
}

// checkTally checks status NAME's restarts: at least want of reason, and
// the first of them (pid) or a later one as the last; it returns the last.
func checkTally(t *testing.T, h *harness, name, reason string, pid, want int) map[string]any {
	t.Helper()
	r := h.do("status", map[string]any{"name": name})
	row, ok := r["restarts"].(map[string]any)
	if !ok {
		t.Fatalf("status %s has no restarts: %v", name, r)
	}
	by, _ := row["by_reason"].(map[string]any)
	if n, _ := by[reason].(int); n < want || row["total"].(int) < n {
		t.Errorf("status %s restarts %v, want at least %d by %s, within the total", name, row, want, reason)
	}
	last, _ := row["last"].(map[string]any)
	if last["reason"] != reason || last["pid"] == 0 || last["time"] == nil {
		t.Errorf("status %s last restart %v, want one by %s (the first was pid %d)", name, last, reason, pid)
	}
	return last
}
