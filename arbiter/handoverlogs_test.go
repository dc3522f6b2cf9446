package arbiter

import (
	"maps"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/poold/poold/arbiter/upgrade"
	"github.com/poold/poold/arbiter/workerlog"
	"github.com/poold/poold/events"
)

// TestUpgradeHandsOverOnlyTheNewestLines: an upgrade handed every ring
// over whole (up to 4 MiB a watcher), encoded and decoded as JSON while
// no worker output was read: 100 full rings took 20 s, writers blocked
// and the watchdog silent. It hands over each ring's newest lines, at
// most handoverLines and handoverBytes, with the counters; a reader
// further behind in the new image is told what it missed.
func TestUpgradeHandsOverOnlyTheNewestLines(t *testing.T) {
	o := newOutput(hclog.NewNullLogger(), false, events.NewBus(nil))
	long, short := o.pool("long", 100000), o.pool("short", 1000)
	line := strings.Repeat("x", 1000)
	for range 5000 {
		long.ring.Add([]workerlog.Record{{Watcher: "long", Stream: "stdout", Line: line}})
	}
	for range 5 {
		short.ring.Add([]workerlog.Record{{Watcher: "short", Stream: "stdout", Line: "hi"}})
	}
	logs := o.handoverLogs()
	if len(logs) != 2 || logs[0].Watcher != "long" || logs[1].Watcher != "short" {
		t.Fatalf("handed over %d rings: %+v", len(logs), logs)
	}
	recs, size := logs[0].Records, 0
	for _, r := range recs {
		size += len(r.Line)
	}
	if len(recs) == 0 || len(recs) > handoverLines || size > handoverBytes || recs[len(recs)-1].Seq != 5000 || logs[0].Last != 5000 {
		t.Fatalf("long ring: %d records, %d bytes, last record %d, last %d; want its newest, at most %d lines and %d bytes, last 5000",
			len(recs), size, recs[len(recs)-1].Seq, logs[0].Last, handoverLines, handoverBytes)
	}
	if len(logs[1].Records) != 5 {
		t.Errorf("short ring: %d records handed over, want all 5", len(logs[1].Records))
	}

	next := newOutput(hclog.NewNullLogger(), false, events.NewBus(nil))
	next.adoptLogs(logs, 42, func(string) (int, bool) { return 100000, true })
	got, last, missed := next.lookup("long").ring.Since(4000)
	if last != 5000 || len(got) != len(recs) || missed != uint64(5000-4000-len(recs)) {
		t.Errorf("new image, reader at line 4000: %d lines, last %d, missed %d; want %d, 5000, %d",
			len(got), last, missed, len(recs), 5000-4000-len(recs))
	}
}

// TestUpgradeHandsOverDroppedLinesByCause: status words a watcher's
// dropped lines by cause (a log file, poold's log queue). The causes go
// over an upgrade with the total; the total of an older image, which
// knew no causes, stays counted, without one.
func TestUpgradeHandsOverDroppedLinesByCause(t *testing.T) {
	o := newOutput(hclog.NewNullLogger(), false, events.NewBus(nil))
	pl := o.pool("web", 10)
	pl.file.Add(2)
	pl.queue.Add(3)
	pl.stderr.Add(4)
	logs := o.handoverLogs()
	logs = append(logs, upgrade.Log{Watcher: "old", Dropped: 7})
	next := newOutput(hclog.NewNullLogger(), false, events.NewBus(nil))
	next.adoptLogs(logs, 0, func(string) (int, bool) { return 10, true })
	c := next.logCounters()
	for name, want := range map[string]map[string]any{
		"web": {"lines": uint64(0), "dropped": uint64(9), "dropped_file": uint64(2), "dropped_queue": uint64(3), "dropped_stderr": uint64(4)},
		"old": {"lines": uint64(0), "dropped": uint64(7), "dropped_file": uint64(0), "dropped_queue": uint64(0), "dropped_stderr": uint64(0)},
	} {
		if !maps.Equal(c[name].(map[string]any), want) {
			t.Errorf("%s: logs %v after the upgrade, want %v", name, c[name], want)
		}
	}
}
