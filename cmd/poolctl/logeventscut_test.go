package main

import (
	"testing"
	"time"
)

// The first read of logs --events cut the events at each watcher's first
// line: wid 1's "started", just before that line, was hidden, and wid
// 2's, a moment later, shown, as if only one had started. The cut is
// per worker now: neither is shown, and what follows each first line is.
func TestLogsEventsFirstReadCutsEachWorkerAtItsFirstLine(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 7, 15, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	lines := []logRecord{
		{Time: at(10), Watcher: "api", Wid: 1, Stream: "stdout", Line: "hello from 1"},
		{Time: at(30), Watcher: "api", Wid: 2, Stream: "stdout", Line: "hello from 2"},
	}
	f := &eventFeed{}
	f.cutAt(lines)
	for _, c := range []struct {
		rec  logRecord
		want bool
	}{
		{logRecord{Time: at(5), Watcher: "api", Wid: 1, Line: "started"}, false},
		{logRecord{Time: at(25), Watcher: "api", Wid: 2, Line: "started"}, false},
		{logRecord{Time: at(40), Watcher: "api", Wid: 1, Line: "ended"}, true},
		{logRecord{Time: at(20), Watcher: "api", Wid: 3, Line: "started"}, true}, // no lines: the watcher's cut
		{logRecord{Time: at(5), Watcher: "other", Wid: 1, Line: "started"}, false},
		{logRecord{Time: at(15), Watcher: "other", Wid: 1, Line: "started"}, true},
	} {
		if got := f.keeps(c.rec); got != c.want {
			t.Errorf("%s wid %d %q at +%v: shown %v, want %v", c.rec.Watcher, c.rec.Wid, c.rec.Line, c.rec.Time.Sub(t0), got, c.want)
		}
	}
}
