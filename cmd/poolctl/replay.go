package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
)

// replayer prints poold's events from a seq on, with no gap and no
// duplicate, from two sources: the event stream (live) and the history
// poold keeps (events_since). It subscribes to every topic and filters
// here, so that the seqs it receives are consecutive and any jump is a
// gap to fill from the history:
//
//  1. subscribe (before anything else, so every later event arrives);
//  2. fetch the history after --since and print it; last = its through;
//  3. for each live event: seq <= last is a duplicate (skip); last+1 is
//     the next one (print); beyond is a gap, the events published before
//     the subscription took effect or dropped for a slow reader: fetch the
//     history after last, print it, and go on from its through.
//
// A gap the history cannot fill (poold no longer keeps those events) is
// said on stderr, never hidden.
type replayer struct {
	a        *app
	client   caller
	prefixes []string
	last     uint64
	print    func(topic string, payload []byte) error
}

// fetch prints the kept events after r.last, page by page.
func (r *replayer) fetch(ctx context.Context) error {
	for {
		cl := call{command: "events_since", what: "events_since", props: map[string]any{"seq": r.last}}
		_, rep, err := r.a.roundTrip(ctx, r.client, cl, r.a.timeoutFor(noWait))
		if err != nil {
			return err
		}
		if s, _ := rep["status"].(string); s == "error" {
			reason, _ := rep["reason"].(string)
			errno := int(num(rep["errno"]))
			if errno == 2 {
				reason = "this poold cannot replay events (no events_since command): drop --since"
			}
			return replyError{reason: reason, errno: errno}
		}
		through, oldest := uint64(num(rep["through"])), uint64(num(rep["oldest"]))
		if r.last > through {
			fmt.Fprintf(r.a.stderr, "poolctl: poold's last event is #%d, before #%d: it has restarted since; replaying all it kept\n", through, r.last)
			r.last = 0
			continue
		}
		switch {
		case rep["complete"] == true:
		case oldest == 0: // it keeps none
			fmt.Fprintf(r.a.stderr, "poolctl: events #%d to #%d are lost: poold keeps no events to replay ([arbiter] event_history = 0)\n", r.last+1, through)
		default:
			fmt.Fprintf(r.a.stderr, "poolctl: events #%d to #%d are lost: poold keeps only the last [arbiter] event_history events, from #%d\n", r.last+1, oldest-1, oldest)
		}
		evs, _ := rep["events"].([]any)
		for _, e := range evs {
			m, _ := e.(map[string]any)
			topic, _ := m["topic"].(string)
			payload, err := json.Marshal(m["event"])
			if err != nil {
				return runError{fmt.Errorf("events_since: event is not JSON: %w", err)}
			}
			if err := r.emit(topic, payload); err != nil {
				return err
			}
		}
		r.last = max(r.last, through)
		if rep["more"] != true {
			return nil
		}
	}
}

// live takes one event from the stream.
func (r *replayer) live(ctx context.Context, topic string, payload []byte) error {
	var p struct{ Seq uint64 }
	if json.Unmarshal(payload, &p) != nil || p.Seq == 0 {
		return r.emit(topic, payload) // not poold's: no seq to order by
	}
	switch {
	case p.Seq <= r.last:
		return nil
	case p.Seq == r.last+1:
		r.last = p.Seq
		return r.emit(topic, payload)
	}
	return r.fetch(ctx) // it was published before the fetch: included
}

func (r *replayer) emit(topic string, payload []byte) error {
	if len(r.prefixes) > 0 {
		match := false
		for _, p := range r.prefixes {
			match = match || strings.HasPrefix(topic, p)
		}
		if !match {
			return nil
		}
	}
	return r.print(topic, payload)
}
