package remote

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/poold/poold/arbiter/wire"
)

// Follower is the event stream kept open: when it breaks (poold upgrading
// in place, restarting, a network blip) it is opened again from the last
// event received, so the server replays what was missed (or says there is
// a gap) and nothing comes twice. A poold that restarted behind the same
// address numbers its events from 1 again: the Follower tells it by its
// incarnation (pid and start time, which an upgrade in place keeps, as it
// keeps the history) and replays the new history from its start rather
// than from a seq of the old one. It belongs to one reader.
type Follower struct {
	c      *Client
	topics []string
	last   uint64 // seq of the last event received (or where it began)
	self   string // the server's incarnation; "" when unknown
	st     *Stream
	o      FollowOptions
	// opened is when st was opened and got whether it brought an event
	// since; breaks counts the breaks in a row of streams that brought
	// none (a server that cuts the stream at the same event each time),
	// the first of them at brokeSince.
	opened     time.Time
	got        bool
	breaks     int
	brokeSince time.Time
}

// FollowOptions tune a Follower.
type FollowOptions struct {
	// RetryFor bounds how long a broken stream is tried again (30s).
	RetryFor time.Duration
	// Poll is the period of those tries (100ms).
	Poll time.Duration
	// Idle: a stream that brings nothing, not even poold's ping (every
	// 20 s), for this long is taken as broken (60s).
	Idle time.Duration
	// Lost, if set, is told each time the stream broke and is tried
	// again, from which seq.
	Lost func(err error, from uint64)
	// Restarted, if set, is told when the stream is opened again on
	// another poold than before (was and now name each), whose history
	// is then replayed from its start.
	Restarted func(was, now string)
	// NewerThan, if set, makes Follow from now on (since < 0) replay the
	// whole history of a poold started after it: every event it keeps
	// came after that time (a host that was down when the caller began).
	NewerThan time.Time
}

// StatusError is an answer of the server that is not the stream (a
// refused token, an unknown stream): trying again does not help.
type StatusError struct {
	URL, Status, Reason string
	Code                int
	// InvalidToken: the server said the token is invalid
	// (WWW-Authenticate error="invalid_token"), as with a 401 for a
	// wrong token, or a 429 for one that failed again and again; a 429
	// without it is the client's address locked out, whatever its token.
	InvalidToken bool
}

func (e *StatusError) Error() string { return fmt.Sprintf("%s: %s: %s", e.URL, e.Status, e.Reason) }

// Follow opens the event stream from since (< 0: from now on, the seq
// the server is at asked first with events_since) and keeps it open.
func (c *Client) Follow(ctx context.Context, topics []string, since int64, o FollowOptions) (*Follower, error) {
	if o.RetryFor <= 0 {
		o.RetryFor = 30 * time.Second
	}
	if o.Poll <= 0 {
		o.Poll = 100 * time.Millisecond
	}
	if o.Idle <= 0 {
		o.Idle = 60 * time.Second
	}
	f := &Follower{c: c, topics: topics, o: o}
	self, started, err := c.incarnation(ctx)
	if err != nil {
		return nil, err
	}
	f.self = self
	// A start time from dstats can be up to a second early (the boot
	// time it is counted from is in whole seconds).
	if since < 0 && !o.NewerThan.IsZero() && started.After(o.NewerThan.Add(-time.Second)) {
		since = 0
	}
	if since < 0 {
		through, err := c.through(ctx)
		if err != nil {
			return nil, err
		}
		since = int64(through)
	}
	f.last = uint64(since)
	st, err := c.Events(ctx, topics, since)
	if err != nil {
		return nil, err
	}
	st.idle = o.Idle
	f.st, f.opened = st, time.Now()
	return f, nil
}

// incarnation names the poold process answering: its pid and start
// time, and that time. "" when the server does not say (dstats refused or
// without them).
func (c *Client) incarnation(ctx context.Context) (string, time.Time, error) {
	rep, err := c.Do(ctx, wire.Request{ID: "follow", Command: "dstats"})
	var ce *wire.CommandError
	if errors.As(err, &ce) {
		return "", time.Time{}, nil
	}
	if err != nil {
		return "", time.Time{}, err
	}
	info, _ := rep["info"].(map[string]any)
	pid, _ := info["pid"].(float64)
	started, _ := info["create_time"].(float64)
	if pid == 0 || started == 0 {
		return "", time.Time{}, nil
	}
	at := time.UnixMilli(10 * int64(math.Round(started*100))).UTC()
	return fmt.Sprintf("pid %d started %s", int(pid), at.Format("2006-01-02T15:04:05.00Z")), at, nil
}

// through is the seq of the server's last event.
func (c *Client) through(ctx context.Context) (uint64, error) {
	rep, err := c.Do(ctx, wire.Request{ID: "follow", Command: "events_since",
		Properties: map[string]any{"seq": uint64(1) << 53, "limit": 1}})
	if err != nil {
		return 0, err
	}
	n, _ := rep["through"].(float64)
	return uint64(n), nil
}

// RecvRaw returns the next event as topic and payload (a gap as
// GapTopic), opening the stream again when it broke. It fails when ctx
// ends, when the server refuses the stream (*StatusError: a revoked
// token), or when it could not be opened again within RetryFor.
func (f *Follower) RecvRaw(ctx context.Context) (string, []byte, error) {
	for {
		ev, err := f.st.Recv(ctx)
		if err == nil {
			if n, perr := strconv.ParseUint(ev.ID, 10, 64); perr == nil {
				f.last = n
			}
			f.got = true
			return rawEvent(f.c, ev)
		}
		if ctx.Err() != nil {
			return "", nil, err
		}
		wait, gaveUp := f.broke(err)
		if gaveUp != nil {
			return "", nil, gaveUp
		}
		if f.o.Lost != nil {
			f.o.Lost(err, f.last)
		}
		select {
		case <-ctx.Done():
			return "", nil, ctx.Err()
		case <-time.After(wait):
		}
		if err := f.reopen(ctx, err); err != nil {
			return "", nil, err
		}
	}
}

// maxBreakWait caps the wait before reopening a stream that keeps
// breaking before it brings anything.
const maxBreakWait = 5 * time.Second

// broke notes that the stream broke with err and says how long to wait
// before opening it again: at once after a stream that brought events
// (or lived RetryFor), then doubling from Poll while each reopened stream
// breaks before its first event. Such breaks for RetryFor (the server
// cuts the stream at the same event every time) end the following with
// an error rather than a reconnection loop.
func (f *Follower) broke(err error) (time.Duration, error) {
	now := time.Now()
	if f.got || now.Sub(f.opened) >= f.o.RetryFor {
		f.breaks, f.brokeSince = 0, now
	}
	f.breaks++
	if f.breaks == 1 {
		return 0, nil
	}
	if now.Sub(f.brokeSince) >= f.o.RetryFor {
		return 0, fmt.Errorf("%w; the stream broke %d times in a row from #%d before bringing an event, for %v: given up", err, f.breaks, f.last, f.o.RetryFor)
	}
	return min(f.o.Poll<<min(f.breaks-2, 16), maxBreakWait), nil
}

// reopen opens the stream again from f.last, trying every Poll until
// RetryFor has passed since it broke (with lost, why).
func (f *Follower) reopen(ctx context.Context, lost error) error {
	f.st.Close()
	deadline := time.Now().Add(f.o.RetryFor)
	tick := time.NewTicker(f.o.Poll)
	defer tick.Stop()
	var why error // the failure to report: the last one not cut short by the deadline
	for {
		// A host that takes the connection but never answers (frozen)
		// holds an attempt no longer than what is left of RetryFor.
		octx, cancel := context.WithDeadline(ctx, deadline)
		err := f.open(octx)
		cut := octx.Err() != nil
		cancel()
		if err == nil {
			return nil
		}
		var se *StatusError
		if errors.As(err, &se) || ctx.Err() != nil {
			return err
		}
		if why == nil || !cut {
			why = err
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("%w; not back within %v: %v", lost, f.o.RetryFor, why)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// open opens the stream again from f.last, or from the start of the
// history if another poold answers now. The stream comes first: a token a
// reload revoked is then refused once, not also for the question of who
// answers (each refusal counts towards the address's failed-token limit).
func (f *Follower) open(ctx context.Context) error {
	st, err := f.c.Events(ctx, f.topics, int64(f.last))
	if err != nil {
		return err
	}
	if f.self != "" {
		self, _, err := f.c.incarnation(ctx)
		if err != nil {
			st.Close()
			return err
		}
		if self != "" && self != f.self {
			st.Close()
			if f.o.Restarted != nil {
				f.o.Restarted(f.self, self)
			}
			f.self, f.last = self, 0
			if st, err = f.c.Events(ctx, f.topics, 0); err != nil {
				return err
			}
		}
	}
	st.idle = f.o.Idle
	f.st, f.opened, f.got = st, time.Now(), false
	return nil
}

// Close ends the stream.
func (f *Follower) Close() error { return f.st.Close() }
