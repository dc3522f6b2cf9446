package arbiter

import (
	"syscall"
	"testing"
	"time"
)

// TestNearlyFullDiskKeepsItsFailureReported: on a nearly full disk a log
// file takes a small batch now and then and refuses the rest. poold
// reported the failure, then "writable again" a millisecond later on the
// first small batch that fit, and from then on said nothing while it
// dropped every line (the failure after a reported recovery waited for a
// minute, and a failure still going on then was never reported): the
// log's last word on the file was that it worked. Now a recovery is only
// claimed once the file has taken lines for a while with no failure, and
// a failure that is not reported at once is reported when the minute is
// over, with the lines dropped meanwhile.
func TestNearlyFullDiskKeepsItsFailureReported(t *testing.T) {
	enospc := error(syscall.ENOSPC)
	t0 := time.Date(2026, 12, 4, 3, 0, 0, 0, time.UTC)
	type step struct {
		at   time.Duration
		err  error
		n    uint64
		want healthNote
	}
	ms := time.Millisecond
	sec := time.Second
	steps := []step{
		{0, enospc, 10, healthNote{failed: true, dropped: 10}},
		{1 * ms, nil, 1, healthNote{}}, // a small batch fit: no claim yet
		{2 * ms, enospc, 20, healthNote{}},
		{3 * ms, nil, 1, healthNote{}},
		{4 * ms, enospc, 30, healthNote{}},
		{61 * sec, enospc, 40, healthNote{}},
		// Writable for good: claimed once it has taken lines for a
		// second with no failure, with what the failure dropped in all.
		{61*sec + 500*ms, nil, 1, healthNote{}},
		{62*sec + 500*ms, nil, 1, healthNote{recovered: true, dropped: 100}},
		{63 * sec, nil, 1, healthNote{}},
		// A new failure a minute or more after the last report: at once.
		{70 * sec, enospc, 5, healthNote{failed: true, dropped: 5}},
		{70*sec + 1*ms, nil, 1, healthNote{}},
		{71*sec + 500*ms, nil, 1, healthNote{recovered: true, dropped: 5}},
		// One within the minute: reported once the minute is over, with
		// what it dropped meanwhile.
		{80 * sec, enospc, 6, healthNote{}},
		{80*sec + 1*ms, nil, 1, healthNote{}},
		{80*sec + 2*ms, enospc, 7, healthNote{}},
		{131 * sec, enospc, 8, healthNote{failed: true, dropped: 21}},
		{133 * sec, nil, 1, healthNote{recovered: true, dropped: 21}},
		// One that ends before the minute is over: its lines are told
		// once a report is allowed again.
		{140 * sec, enospc, 1, healthNote{}},
		{142 * sec, nil, 1, healthNote{}},
		{200 * sec, nil, 1, healthNote{recovered: true, dropped: 1}},
		{201 * sec, nil, 1, healthNote{}},
	}
	var h fileHealth
	for i, s := range steps {
		if got := h.wrote(s.err, s.n, t0.Add(s.at)); got != s.want {
			t.Errorf("step %d (%v, err %v): %+v, want %+v", i, s.at, s.err, got, s.want)
		}
	}
}

// TestSecondFullDiskSpellIsReportedWhenItsMinuteIsOver: the disk fills
// (reported), is freed (writable again), fills again at once within the
// minute after that report, and the worker goes quiet. No write came
// after the minute, so the second spell was never reported as a failure
// (r57b-oncall L1): due, on the loop's tick, reports it once the minute
// is over, with its writer and the lines it dropped, and only once.
func TestSecondFullDiskSpellIsReportedWhenItsMinuteIsOver(t *testing.T) {
	enospc := error(syscall.ENOSPC)
	t0 := time.Date(2026, 12, 4, 3, 0, 0, 0, time.UTC)
	sec := time.Second
	by := failedWrite{watcher: "api", stream: "stdout", wid: 2}
	var h fileHealth
	if n := h.wroteBy(enospc, 100, t0, by); !n.failed {
		t.Fatalf("first failure: %+v, want it reported", n)
	}
	if n := h.wroteBy(nil, 1, t0.Add(8*sec), by); !n.recovered {
		t.Fatalf("writable again at 8s: %+v, want the recovery reported", n)
	}
	for i := range 5 { // the second spell: a burst, then nothing
		if n := h.wroteBy(enospc, 10, t0.Add(9*sec+time.Duration(i)*time.Millisecond), by); n != (healthNote{}) {
			t.Fatalf("a failure within the minute after the report: %+v, want it held back", n)
		}
	}
	if n, _, _ := h.due(t0.Add(59 * sec)); n.failed {
		t.Fatalf("due before the minute is over: %+v, want nothing yet", n)
	}
	n, gotBy, err := h.due(t0.Add(61 * sec))
	if !n.failed || n.dropped != 50 || err != enospc || gotBy != by {
		t.Fatalf("due once the minute is over: %+v, %+v, %v; want the failure with 50 lines dropped, by %+v, ENOSPC", n, gotBy, err, by)
	}
	if n, _, _ := h.due(t0.Add(66 * sec)); n.failed {
		t.Fatalf("due again: %+v, want the failure reported once", n)
	}
	if n := h.wroteBy(nil, 1, t0.Add(70*sec), by); !n.recovered || n.dropped != 50 {
		t.Fatalf("writable again after the held report: %+v, want the recovery with 50 lines", n)
	}
}
