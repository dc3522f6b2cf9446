package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/poold/poold/events/zmqpub"
	"github.com/poold/poold/web/remote"
)

// resubscribeFor is how long `poolctl events` tries to get its stream
// back after losing it (poold upgrading in place re-binds its endpoints
// within milliseconds; a restart takes longer).
const resubscribeFor = 30 * time.Second

// resubscribePoll is the period of those tries.
const resubscribePoll = 50 * time.Millisecond

// resubscribe subscribes to ep and replays through r what poold kept after
// r.last, retrying until deadline (a deadline already past: one try).
// The subscription is made before the replay, so together they leave no
// gap (see replayer).
func (a *app) resubscribe(ctx context.Context, ep string, r *replayer, deadline time.Time) (*zmqpub.Subscriber, error) {
	tick := time.NewTicker(resubscribePoll)
	defer tick.Stop()
	for {
		sub, err := a.subscribeOnce(ctx, ep, r)
		if err == nil || ctx.Err() != nil || time.Now().After(deadline) {
			return sub, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
		}
	}
}

func (a *app) subscribeOnce(ctx context.Context, ep string, r *replayer) (*zmqpub.Subscriber, error) {
	sub, err := zmqpub.Dial(ctx, ep)
	if err != nil {
		return nil, subscribeError(ep, err)
	}
	client, err := a.dial()
	if err != nil {
		sub.Close()
		return nil, err
	}
	r.client = client
	if err := r.fetch(ctx); err != nil {
		sub.Close()
		r.close()
		return nil, err
	}
	return sub, nil
}

// close closes the replayer's control client, if any.
func (r *replayer) close() {
	if r.client != nil {
		r.client.Close()
		r.client = nil
	}
}

// currentSeq is poold's last event seq.
func (a *app) currentSeq(ctx context.Context) (uint64, error) {
	client, err := a.dial()
	if err != nil {
		return 0, err
	}
	defer client.Close()
	// Asked above any seq: no event comes back, only through.
	cl := call{command: "events_since", what: "events_since", props: map[string]any{"seq": uint64(1) << 53, "limit": 1}}
	_, r, err := a.roundTrip(ctx, client, cl, a.timeoutFor(noWait))
	if err != nil {
		return 0, err
	}
	if st, _ := r["status"].(string); st == "error" {
		reason, _ := r["reason"].(string)
		return 0, replyError{reason: reason, errno: int(num(r["errno"]))}
	}
	return uint64(num(r["through"])), nil
}

// remoteEvents prints poold's events over the HTTPS API from since (< 0:
// from now on) until ctx is cancelled. A stream that breaks (poold
// upgrading in place or restarting) is opened again from the last event
// printed, so the server replays what was missed: no gap, nothing twice.
func (a *app) remoteEvents(ctx context.Context, prefixes []string, since int64) error {
	client, err := a.dial()
	if err != nil {
		return err
	}
	defer client.Close()
	rc, ok := client.(*remote.Client)
	if !ok {
		return fmt.Errorf("poolctl: %s is not an HTTPS API client", a.endpoint)
	}
	f, err := rc.Follow(ctx, prefixes, since, a.followOptions())
	if err != nil {
		return quietOnCancel(ctx, connError{fmt.Sprintf("Cannot open poold's event stream at %s (%v)", rc.URL(), err), err})
	}
	defer f.Close()
	for {
		topic, payload, err := f.RecvRaw(ctx)
		if err != nil {
			return quietOnCancel(ctx, connError{fmt.Sprintf("event stream from %s failed: %v", rc.URL(), err), err})
		}
		if err := a.printEvent(topic, payload); err != nil {
			return err
		}
	}
}

// followOptions says on stderr when the API event stream broke and is
// opened again, as the ZeroMQ one does.
func (a *app) followOptions() remote.FollowOptions {
	return remote.FollowOptions{RetryFor: resubscribeFor, Lost: func(err error, from uint64) {
		fmt.Fprintf(a.stderr, "poolctl: %s\n", lostNote(err, from))
	}, Restarted: func(was, now string) {
		fmt.Fprintf(a.stderr, "poolctl: %s\n", restartNote(was, now))
	}}
}

// restartNote says that the stream reopened on a new poold.
func restartNote(was, now string) string {
	return fmt.Sprintf("poold restarted (was %s, now %s): its events are numbered from 1 again; replaying every one it kept", was, now)
}

// lostNote says why an API event stream ended and that it is opened
// again: poold upgrading in place says so (no error of anyone's).
func lostNote(err error, from uint64) string {
	if errors.Is(err, remote.ErrUpgrading) {
		return fmt.Sprintf("poold is upgrading in place; reconnecting from #%d", from)
	}
	return fmt.Sprintf("event stream lost (%v); reconnecting from #%d", err, from)
}
