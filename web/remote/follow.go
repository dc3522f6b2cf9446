package remote

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/poold/poold/arbiter"
)

// Follower is the event stream kept open: when it breaks (poold upgrading
// in place, restarting, a network blip) it is opened again from the last
// event received, so the server replays what was missed (or says there is
// a gap) and nothing comes twice. It belongs to one reader.
type Follower struct {
	c      *Client
	topics []string
	last   uint64 // seq of the last event received (or where it began)
	st     *Stream
	o      FollowOptions
}

// FollowOptions tune a Follower.
type FollowOptions struct {
	// RetryFor bounds how long a broken stream is tried again (30s).
	RetryFor time.Duration
	// Poll is the period of those tries (100ms).
	Poll time.Duration
	// Lost, if set, is told each time the stream broke and is tried
	// again, from which seq.
	Lost func(err error, from uint64)
}

// StatusError is an answer of the server that is not the stream (a
// refused token, an unknown stream): trying again does not help.
type StatusError struct {
	URL, Status, Reason string
	Code                int
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
	f := &Follower{c: c, topics: topics, o: o}
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
	f.st = st
	return f, nil
}

// through is the seq of the server's last event.
func (c *Client) through(ctx context.Context) (uint64, error) {
	rep, err := c.Do(ctx, arbiter.Request{ID: "follow", Command: "events_since",
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
			return rawEvent(f.c, ev)
		}
		if ctx.Err() != nil {
			return "", nil, err
		}
		if f.o.Lost != nil {
			f.o.Lost(err, f.last)
		}
		if err := f.reopen(ctx, err); err != nil {
			return "", nil, err
		}
	}
}

// reopen opens the stream again from f.last, trying every Poll until
// RetryFor has passed since it broke (with lost, why).
func (f *Follower) reopen(ctx context.Context, lost error) error {
	f.st.Close()
	deadline := time.Now().Add(f.o.RetryFor)
	tick := time.NewTicker(f.o.Poll)
	defer tick.Stop()
	for {
		st, err := f.c.Events(ctx, f.topics, int64(f.last))
		if err == nil {
			f.st = st
			return nil
		}
		var se *StatusError
		if errors.As(err, &se) || ctx.Err() != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w; not back within %v: %v", lost, f.o.RetryFor, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// Close ends the stream.
func (f *Follower) Close() error { return f.st.Close() }
