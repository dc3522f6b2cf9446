package arbiter

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher/proctest"
)

// BenchmarkExitToReapEvent times how long after a worker's exit_group
// poold publishes its reap: the spawner's reap, the cgroup's clean-up
// (cgroupStep) and the loop's handling of the exit. Each op starts a
// watcher of 16 workers, and stops it; each worker ("stamp") writes the
// wall clock just before its exit_group, which the reap event's time is
// compared with. Reported in ms over every worker: p50, p99 and max.
func BenchmarkExitToReapEvent(b *testing.B) {
	const n = 16
	dir := b.TempDir()
	w := testWatcher("stamp", "stamp", n)
	w.Env = append(w.Env, "STAMP_DIR="+dir)
	w.GracefulTimeout = hang // no kill at a deadline: the exits themselves
	w.Autostart = false
	h := start(b, &configs.Config{Watchers: []configs.Watcher{w}}, Options{})
	var lat []time.Duration
	for b.Loop() {
		h.do("start", map[string]any{"name": "stamp", "waiting": true})
		for pid := range h.spawns(n) {
			ready := filepath.Join(dir, strconv.Itoa(pid)+".ready")
			proctest.Eventually(b, "worker "+strconv.Itoa(pid)+" ready", func() bool { _, err := os.Stat(ready); return err == nil })
		}
		h.do("stop", map[string]any{"name": "stamp"})
		for range n {
			ev := h.next(string(events.KindReap), nil)
			pid := ev.Fields["process_pid"].(int)
			b, err := os.ReadFile(filepath.Join(dir, strconv.Itoa(pid)))
			at, perr := strconv.ParseInt(string(b), 10, 64)
			if err != nil || perr != nil {
				h.t.Fatalf("worker %d wrote no exit time: %v %v", pid, err, perr)
			}
			lat = append(lat, ev.Time.Sub(time.Unix(0, at)))
		}
	}
	slices.Sort(lat)
	at := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))]) / 1e6 }
	b.ReportMetric(at(0.5), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
	b.ReportMetric(at(1), "max-ms")
}
