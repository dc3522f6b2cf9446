package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/events"
	"github.com/poold/poold/web/remote"
)

// StreamHandler serves one GET /api/v1/NAME stream (Options.Streams)
// after the API's authentication. It must return when r's context ends
// (poold stopping or the client gone).
type StreamHandler func(w http.ResponseWriter, r *http.Request)

// SSEWriter writes server-sent events with a write deadline, so a client
// that stops reading is dropped instead of holding a goroutine. Stream
// handlers (Options.Streams) get one from StartSSE.
type SSEWriter struct {
	w    http.ResponseWriter
	rc   *http.ResponseController
	wait time.Duration
}

// StartSSE answers r with a text/event-stream; stream handlers of
// Options.Streams write through it.
func StartSSE(w http.ResponseWriter, writeWait time.Duration) *SSEWriter {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	sw := &SSEWriter{w: w, rc: http.NewResponseController(w), wait: writeWait}
	_ = sw.comment("poold")
	return sw
}

func (sw *SSEWriter) flush() error {
	_ = sw.rc.SetWriteDeadline(time.Now().Add(sw.wait))
	return sw.rc.Flush()
}

// Send writes one event: id (omitted when empty), event name (omitted
// when empty) and one line of data.
func (sw *SSEWriter) Send(id, event string, data []byte) error {
	_ = sw.rc.SetWriteDeadline(time.Now().Add(sw.wait))
	if id != "" {
		fmt.Fprintf(sw.w, "id: %s\n", id)
	}
	if event != "" {
		fmt.Fprintf(sw.w, "event: %s\n", event)
	}
	if _, err := fmt.Fprintf(sw.w, "data: %s\n\n", data); err != nil {
		return err
	}
	return sw.flush()
}

func (sw *SSEWriter) comment(c string) error {
	if _, err := fmt.Fprintf(sw.w, ": %s\n\n", c); err != nil {
		return err
	}
	return sw.flush()
}

// wireEventJSON is one event as the API streams it and events_since
// returns it: {"topic": ..., "event": {payload}}.
func wireEventJSON(ev events.Event) []byte {
	b, _ := json.Marshal(map[string]any{"topic": ev.Topic, "event": ev.Payload()})
	return b
}

// eventStream serves GET /api/v1/events[?topic=PREFIX...][&since=SEQ]:
// the lifecycle events as server-sent events (id = seq, data = one JSON
// object {"topic", "event"}). With since it first replays the kept events
// after SEQ, then goes live, with no gap and no event twice; a gap the
// history cannot fill is sent as an "event: gap" with {"from","to"}.
func (s *Server) eventStream(w http.ResponseWriter, r *http.Request) {
	bus := s.opts.Events
	if bus == nil {
		apiError(w, http.StatusServiceUnavailable, arbiter.ErrnoFailed, "", "this poold publishes no events")
		return
	}
	q := r.URL.Query()
	prefixes := q["topic"]
	sub := bus.Subscribe(1024, prefixes...)
	defer sub.Close()
	// Every event after subAt reaches sub; those up to it can come only
	// from the history.
	subAt := bus.Since(^uint64(0), 1).Through
	last := subAt
	if v := q.Get("since"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			apiError(w, http.StatusBadRequest, arbiter.ErrnoBadProperty, "", "since=%q: want an event seq (a number)", v)
			return
		}
		last = n
		if last > subAt {
			last = 0 // a seq of an earlier poold: replay everything kept
		}
	}
	sw := StartSSE(w, s.tunings.writeWait)
	ping := time.NewTicker(s.tunings.pingEvery)
	defer ping.Stop()
	if err := s.replayTo(sw, bus, &last, subAt, prefixes); err != nil {
		return
	}
	dropped := uint64(0)
	for {
		select {
		case <-r.Context().Done():
			// poold stopping: its last events (arbiter.stop) are queued
			// already and go out before the stream ends.
			if context.Cause(r.Context()) != errRevoked {
				sendQueued(sw, sub, last)
			}
			switch context.Cause(r.Context()) {
			case errHandingOver:
				// The client tells this end from a lost connection.
				_ = sw.comment(remote.UpgradingComment)
			case errEvicted:
				_ = sw.comment(errEvicted.Error())
			}
			return
		case <-ping.C:
			if sw.comment("ping") != nil {
				return
			}
		case ev, ok := <-sub.C():
			if !ok {
				return
			}
			if d := sub.Dropped(); d != dropped {
				dropped = d
				if s.replayTo(sw, bus, &last, ^uint64(0), prefixes) != nil {
					return
				}
			}
			if sendAfter(sw, ev, &last) != nil {
				return
			}
		}
	}
}

// sendAfter sends ev unless it is at or before *last (replayed already),
// and moves *last to it.
func sendAfter(sw *SSEWriter, ev events.Event, last *uint64) error {
	if ev.Seq <= *last {
		return nil
	}
	*last = ev.Seq
	return sw.Send(strconv.FormatUint(ev.Seq, 10), "", wireEventJSON(ev))
}

// sendQueued sends what sub holds now, after last, without waiting.
func sendQueued(sw *SSEWriter, sub *events.Subscription, last uint64) {
	for {
		select {
		case ev, ok := <-sub.C():
			if !ok || sendAfter(sw, ev, &last) != nil {
				return
			}
		default:
			return
		}
	}
}

// replayTo sends the kept events after *last up to upTo (those after it
// come through the caller's subscription), page by page, and moves *last
// to the last seq it covered. Events the history no longer holds (or a
// bus that keeps none) are sent as one "event: gap" {"from","to"}: what
// the stream skips, it says it skipped.
func (s *Server) replayTo(sw *SSEWriter, bus *events.Bus, last *uint64, upTo uint64, prefixes []string) error {
	for {
		rp := bus.Since(*last, maxResume, prefixes...)
		end := min(upTo, rp.Through)
		if end <= *last {
			return nil
		}
		if !rp.Complete {
			to := end
			if rp.Oldest != 0 {
				to = min(to, rp.Oldest-1)
			}
			if to > *last {
				gap, _ := json.Marshal(map[string]uint64{"from": *last + 1, "to": to})
				if err := sw.Send("", "gap", gap); err != nil {
					return err
				}
			}
		}
		for _, ev := range rp.Events {
			if ev.Seq > end {
				break
			}
			if err := sw.Send(strconv.FormatUint(ev.Seq, 10), "", wireEventJSON(ev)); err != nil {
				return err
			}
		}
		*last = end
		if !rp.More {
			return nil
		}
	}
}
