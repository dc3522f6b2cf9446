package arbiter

import (
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

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
