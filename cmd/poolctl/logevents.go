package main

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// --events: the workers' lifecycle among their lines, as pm2 logs shows
// "App [web:1] exited with code [3]". Each read asks poold's event
// history (events_since) once, after the last seq seen, and turns its
// spawn, exit and kill events into records of stream "event", merged
// with the lines by time.

// eventFeed is where a reader is in poold's event history.
type eventFeed struct {
	prefix   string    // "watcher.": every watcher's; "watcher.NAME.": one's
	watcher  string    // NAME as poold names it, "" for every watcher
	wid      int       // --wid, 0 for every worker
	last     uint64    // the last seq read
	instance string    // the poold answering; another one's seqs start over
	from     time.Time // events before it are not shown (set by the first read)
	// fromOf is, per worker (watcher and wid) and per watcher (wid 0),
	// the time of its first line of the first read: a worker's events
	// before its first line are not shown, as another worker's after it
	// are; a worker without lines has its watcher's, a watcher without
	// lines from. So every worker's events start at the same point of
	// its own output (its "started" shows for none that had lines).
	fromOf map[cutKey]time.Time
}

// cutKey is a worker, or with wid 0 a watcher, in eventFeed.fromOf.
type cutKey struct {
	watcher string
	wid     int
}

// keeps says whether f shows rec, a lifecycle record. Topics are
// prefixes (watcher.api. is also watcher.api.v2's), so the watcher is
// matched here, and the wid, which no topic names.
func (f *eventFeed) keeps(rec logRecord) bool {
	if (f.watcher != "" && rec.Watcher != f.watcher) || (f.wid != 0 && rec.Wid != f.wid) {
		return false
	}
	from, ok := f.fromOf[cutKey{rec.Watcher, rec.Wid}]
	if !ok {
		from, ok = f.fromOf[cutKey{rec.Watcher, 0}]
	}
	if !ok {
		from = f.from
	}
	return !rec.Time.Before(from)
}

// readEvents returns the lifecycle records of the events after f.last.
func (a *app) readEvents(ctx context.Context, client caller, f *eventFeed) ([]logRecord, error) {
	var out []logRecord
	for {
		r, err := a.ask(ctx, client, "events_since", map[string]any{"seq": f.last, "topics": []string{f.prefix}, "limit": 1000})
		if err != nil {
			return out, err
		}
		if inst, _ := r["instance"].(string); inst != f.instance {
			restarted := f.instance != ""
			f.instance = inst
			if restarted && f.last > 0 {
				f.last = 0 // a new poold: its events from its first
				continue
			}
		}
		evs, _ := r["events"].([]any)
		for _, e := range evs {
			m, _ := e.(map[string]any)
			topic, _ := m["topic"].(string)
			p, _ := m["event"].(map[string]any)
			if rec, ok := eventRecord(topic, p); ok && f.keeps(rec) {
				out = append(out, rec)
			}
		}
		f.last = max(f.last, uint64(num(r["through"])))
		if r["more"] != true {
			return out, nil
		}
	}
}

// withEvents merges into recs, the lines of one read, the lifecycle
// records of the events since the last read (with --events); on the
// first read, those of each watcher since its first line in recs (those
// of a watcher without lines since recs' first line; none without
// lines).
func (a *app) withEvents(ctx context.Context, client caller, recs []logRecord) ([]logRecord, error) {
	f := a.logsEvents
	if f == nil {
		return recs, nil
	}
	if f.from.IsZero() {
		f.cutAt(recs)
	}
	evs, err := a.readEvents(ctx, client, f)
	return mergeByTime([][]logRecord{recs, evs}), err
}

// cutAt sets where f's events start, from recs, the lines of the first
// read, in time order: see fromOf.
func (f *eventFeed) cutAt(recs []logRecord) {
	f.from = time.Now()
	if len(recs) > 0 {
		f.from = recs[0].Time
	}
	f.fromOf = map[cutKey]time.Time{}
	for _, r := range recs { // each worker's first, and each watcher's
		for _, k := range []cutKey{{r.Watcher, r.Wid}, {r.Watcher, 0}} {
			if _, ok := f.fromOf[k]; !ok {
				f.fromOf[k] = r.Time
			}
		}
	}
}

// sigWord names signal n: SIGTERM, or "signal 40".
func sigWord(n int) string {
	if s := signalName(n); s != "" {
		return "SIG" + s
	}
	return fmt.Sprintf("signal %d", n)
}

// eventRecord makes a record of a worker's spawn, exit or kill event
// (topic watcher.NAME.EVENT, NAME as poold publishes it: lower case).
func eventRecord(topic string, p map[string]any) (logRecord, bool) {
	rest, ok := strings.CutPrefix(topic, "watcher.")
	i := strings.LastIndexByte(rest, '.')
	if !ok || i < 0 || p == nil {
		return logRecord{}, false
	}
	rec := logRecord{Watcher: rest[:i], Wid: int(num(p["process_id"])), Pid: int(num(p["process_pid"])), Stream: "event",
		Time: time.Unix(0, int64(num(p["time"])*1e9)).UTC()}
	switch rest[i+1:] {
	case "spawn":
		rec.Line = "started"
	case "exit":
		code := int(num(p["exit_code"]))
		switch why, _ := p["exit_reason"].(string); {
		case why != "":
			rec.Line = "ended: " + why
		case code < 0:
			rec.Line = "ended by " + sigWord(-code)
		default:
			rec.Line = fmt.Sprintf("exited with code %d", code)
		}
	case "kill":
		rec.Line = "poold sent it " + sigWord(int(num(p["signal"])))
	default:
		return logRecord{}, false
	}
	return rec, true
}
