package remote

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// GapTopic is the topic RecvRaw gives a gap the server could not fill
// (events no longer kept); its payload is {"from": SEQ, "to": SEQ}.
const GapTopic = "poold.gap"

// Stream is an open GET /api/v1/events (or another SSE stream).
type Stream struct {
	c      *Client
	body   io.ReadCloser
	r      *bufio.Reader
	cancel context.CancelFunc
	once   sync.Once
	// idle, when > 0, ends a Recv that read nothing, not even a ping, for
	// that long: a host frozen or cut off without a reset keeps the
	// connection open but says nothing.
	idle time.Duration
	// upgrading is set once poold said it ends the stream for an
	// in-place upgrade (UpgradingComment).
	upgrading bool
}

// UpgradingComment is the SSE comment poold sends as it ends an event
// stream for an in-place upgrade: its new image answers the reconnect.
// A client that knows it says so rather than that the stream was lost;
// older clients take it for a ping.
const UpgradingComment = "upgrading"

// ErrUpgrading is Recv's error for a stream poold ended because it
// re-executes itself (an in-place upgrade): connect again, from the last
// event, in a moment.
var ErrUpgrading = errors.New("poold ended the stream: it is upgrading in place")

// Events opens the event stream: topics filter by prefix (all when none),
// since >= 0 first replays the kept events after that seq.
func (c *Client) Events(ctx context.Context, topics []string, since int64) (*Stream, error) {
	q := url.Values{}
	for _, t := range topics {
		q.Add("topic", t)
	}
	if since >= 0 {
		q.Set("since", strconv.FormatInt(since, 10))
	}
	return c.Stream(ctx, "events", q)
}

// Stream opens GET /api/v1/NAME?query as server-sent events. The stream
// lives until Close (not until ctx, which bounds only the opening).
func (c *Client) Stream(ctx context.Context, name string, q url.Values) (*Stream, error) {
	sctx, cancel := context.WithCancel(context.Background())
	stop := context.AfterFunc(ctx, cancel) // cancel the opening with ctx
	u := c.base + "/api/v1/" + name
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	hr, err := http.NewRequestWithContext(sctx, http.MethodGet, u, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	hr.Header.Set("Accept", "text/event-stream")
	resp, err := c.send(ctx, hr)
	stopped := stop()
	if err != nil || !stopped {
		cancel()
		if err == nil {
			resp.Body.Close()
			err = ctx.Err()
		}
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer cancel()
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var r struct{ Reason string }
		if json.Unmarshal(b, &r) == nil && r.Reason != "" {
			return nil, &StatusError{URL: c.base, Status: resp.Status, Code: resp.StatusCode, Reason: r.Reason, InvalidToken: invalidToken(resp.Header)}
		}
		if gatewayDown(resp.StatusCode) {
			// A proxy in front of poold that cannot reach it (poold
			// restarting behind nginx): no answer of poold's, and one
			// that passes, so a follower tries again.
			return nil, fmt.Errorf("%s: %s from a proxy in front of poold, which cannot reach it (restarting?): %.200q", c.base, resp.Status, strings.TrimSpace(string(b)))
		}
		return nil, &StatusError{URL: c.base, Status: resp.Status, Code: resp.StatusCode, Reason: c.notStream(b)}
	}
	return &Stream{c: c, body: resp.Body, r: bufio.NewReaderSize(resp.Body, 64<<10), cancel: cancel}, nil
}

// maxEvent bounds one server-sent event (a line, and an event's data
// lines together). poold's events and log lines are far smaller (a log
// line is at most 64 KiB); a server that sends more is not a poold, or
// is hostile, and must not make the reader (poolctl, or a poold whose
// console follows it in the fleet view) buffer without end.
const maxEvent = 8 << 20

var errEventTooLarge = errors.New("event too large")

// notStream explains an answer to the stream that is not poold's (no
// Circus reply in it): what to do, as notAPI says it for a command.
// gatewayDown reports whether an HTTP status is a proxy's word that what
// is behind it does not answer (502, 503, 504).
func gatewayDown(code int) bool {
	return code == http.StatusBadGateway || code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout
}

func (c *Client) notStream(body []byte) string {
	text := strings.TrimSpace(string(body))
	if strings.HasPrefix(c.base, "http://") && strings.Contains(text, "HTTP request to an HTTPS server") {
		return "the server speaks HTTPS: use https://" + strings.TrimPrefix(c.base, "http://")
	}
	return fmt.Sprintf("%.200q: not a poold reply; is this the [web] address of a poold?", text)
}

// Event is one server-sent event.
type Event struct {
	ID, Name string
	Data     []byte
}

// Recv returns the next event. ctx cancelled closes the stream.
func (s *Stream) Recv(ctx context.Context) (Event, error) {
	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()
	var stalled atomic.Bool
	var idle *time.Timer
	if s.idle > 0 {
		idle = time.AfterFunc(s.idle, func() { stalled.Store(true); s.Close() })
		defer idle.Stop()
	}
	var ev Event
	for {
		line, err := s.readLine()
		if err != nil {
			if errors.Is(err, errEventTooLarge) {
				return Event{}, s.tooLarge()
			}
			if ctx.Err() != nil {
				return Event{}, ctx.Err()
			}
			if stalled.Load() {
				return Event{}, fmt.Errorf("event stream from %s: no event or ping for %v: is poold stuck, or the network down?", s.c.base, s.idle)
			}
			if err == io.EOF && s.upgrading {
				return Event{}, fmt.Errorf("event stream from %s: %w", s.c.base, ErrUpgrading)
			}
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return Event{}, fmt.Errorf("event stream from %s ended: %w", s.c.base, err)
		}
		if idle != nil {
			idle.Reset(s.idle)
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			if ev.Data != nil {
				return ev, nil
			}
			continue
		}
		if strings.HasPrefix(line, ":") {
			if strings.TrimSpace(line[1:]) == UpgradingComment {
				s.upgrading = true
			}
			continue // comment: ping, or the upgrade's
		}
		k, v, _ := strings.Cut(line, ":")
		v = strings.TrimPrefix(v, " ")
		switch k {
		case "id":
			ev.ID = v
		case "event":
			ev.Name = v
		case "data":
			if len(ev.Data)+len(v) >= maxEvent {
				return Event{}, s.tooLarge()
			}
			if ev.Data != nil {
				ev.Data = append(ev.Data, '\n')
			}
			ev.Data = append(ev.Data, v...)
		}
	}
}

// readLine reads one line, at most maxEvent bytes long.
func (s *Stream) readLine() (string, error) {
	var line []byte
	for {
		frag, err := s.r.ReadSlice('\n')
		if len(line)+len(frag) > maxEvent {
			return "", errEventTooLarge
		}
		line = append(line, frag...)
		if err != bufio.ErrBufferFull {
			return string(line), err
		}
	}
}

func (s *Stream) tooLarge() error {
	return fmt.Errorf("event stream from %s: an event over %d MiB, far beyond any poold sends: is %s the [web] address of a poold?", s.c.base, maxEvent>>20, s.c.host)
}

// RecvRaw returns the next lifecycle event as topic and payload, like a
// ZeroMQ subscriber's; a gap comes as GapTopic.
func (s *Stream) RecvRaw(ctx context.Context) (string, []byte, error) {
	ev, err := s.Recv(ctx)
	if err != nil {
		return "", nil, err
	}
	return rawEvent(s.c, ev)
}

// rawEvent is ev as a lifecycle event's topic and payload.
func rawEvent(c *Client, ev Event) (string, []byte, error) {
	if ev.Name == "gap" {
		return GapTopic, ev.Data, nil
	}
	var m struct {
		Topic string          `json:"topic"`
		Event json.RawMessage `json:"event"`
	}
	if err := json.Unmarshal(ev.Data, &m); err != nil {
		return "", nil, fmt.Errorf("event from %s is not JSON: %w", c.base, err)
	}
	return m.Topic, m.Event, nil
}

// Close ends the stream. Safe to call more than once and concurrently.
func (s *Stream) Close() error {
	s.once.Do(func() {
		s.cancel()
		s.body.Close()
	})
	return nil
}
