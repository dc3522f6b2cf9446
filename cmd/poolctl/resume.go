package main

import (
	"context"
	"time"

	"github.com/poold/poold/events/zmqpub"
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
