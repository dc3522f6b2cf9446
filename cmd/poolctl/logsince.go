package main

import (
	"fmt"
	"time"
)

// --since: like journalctl --since and docker logs --since, the lines
// written from a point on, "what did the workers say since the deploy";
// poold's ring holds the time each line was read, and poolctl filters
// what it asks for.

// parseSince reads --since: a duration ago ("10m", "1h30m"), an RFC 3339
// time ("2026-12-04T02:55:00Z") or a local time of today ("02:55",
// "02:55:30").
func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"15:04:05", "15:04"} {
		if t, err := time.ParseInLocation(layout, s, now.Location()); err == nil {
			y, m, d := now.Date()
			return time.Date(y, m, d, t.Hour(), t.Minute(), t.Second(), 0, now.Location()), nil
		}
	}
	return time.Time{}, usagef("logs: --since takes a duration ago (10m, 1h30m), a time (2026-12-04T02:55:00Z) or a time of today (02:55, 02:55:30), got %q", s)
}

// cutSince drops the records written before a.logsSince and, on the first
// batch, keeps the last a.logsTail of the rest.
func (a *app) cutSince(recs []logRecord, name any) []logRecord {
	return a.tailSince(a.dropBefore(recs, name))
}

// dropBefore drops the records written before a.logsSince. When, on the
// first batch, the oldest line the ring still holds is later than
// --since, it says so on stderr: the earlier ones are only in the log
// files or poold's log.
func (a *app) dropBefore(recs []logRecord, name any) []logRecord {
	if a.logsSince.IsZero() {
		return recs
	}
	if len(recs) > 0 && recs[0].Seq > 1 && recs[0].Time.After(a.logsSince) && a.logsTail >= 0 {
		fmt.Fprintf(a.stderr, "poolctl: the ring of %s holds lines from %s on; earlier ones are only where its output goes (log files, poold's log)\n",
			name, recs[0].Time.Local().Format(time.RFC3339))
	}
	kept := recs[:0]
	for _, r := range recs {
		if !r.Time.Before(a.logsSince) {
			kept = append(kept, r)
		}
	}
	return kept
}

// tailSince keeps the last a.logsTail of the first batch (-n with
// --since); later batches (-f) are not cut, nor noted.
func (a *app) tailSince(recs []logRecord) []logRecord {
	if a.logsSince.IsZero() {
		return recs
	}
	if a.logsTail > 0 && len(recs) > a.logsTail {
		recs = recs[len(recs)-a.logsTail:]
	}
	a.logsTail = -1
	return recs
}
