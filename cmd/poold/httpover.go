package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/arbiter/wire"
)

// The HTTP side of an in-place upgrade's hand-over. Its last step before
// the exec stops poold's HTTP listeners taking connections and lets each
// answer the requests it took (web.Server.HandOver). The arbiter's loop
// is blocked from the start of the exec step (Upgrader.Begin) to the
// exec, so what the requests of that stretch would ask it is answered
// by httpView instead: a liveness probe is alive (the
// loop is handing over) until the loop's step is past its stuck bound,
// a readiness probe and a scrape get the snapshot
// the loop gave as the hand-over began, an API command was not run and
// says to send it again.

// httpView is the arbiter as poold's HTTP surfaces see it (web Backend
// and Health, the metrics' Source). Safe for concurrent use.
type httpView struct {
	*arbiter.Arbiter

	mu sync.Mutex
	// over ends when a hand-over begins; a new one replaces it when the
	// exec did not happen.
	over   context.Context
	cancel context.CancelFunc

	last atomic.Pointer[arbiter.Snapshot] // the newest one the loop gave
}

// lastSnapshotAge bounds how old a snapshot a hand-over answers with. The
// one taken as it began is fresh; the bound is for a hand-over held up.
const lastSnapshotAge = 30 * time.Second

func newHTTPView(a *arbiter.Arbiter) *httpView {
	v := &httpView{Arbiter: a}
	v.over, v.cancel = context.WithCancel(context.Background())
	return v
}

// begin: the loop is handing over from now on; now is its state as the
// hand-over began (taken on the loop), nil when poold has no HTTP
// listener to answer with it.
func (v *httpView) begin(now *arbiter.Snapshot) {
	if v == nil {
		return
	}
	if now != nil {
		v.keep(now)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.cancel()
}

// keep stores s unless the stored one is newer: concurrent callers
// finish in any order.
func (v *httpView) keep(s *arbiter.Snapshot) {
	for {
		old := v.last.Load()
		if old != nil && !s.Taken.After(old.Taken) {
			return
		}
		if v.last.CompareAndSwap(old, s) {
			return
		}
	}
}

// resume: the exec did not happen; the loop answers again.
func (v *httpView) resume() {
	if v == nil {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.over.Err() != nil {
		v.over, v.cancel = context.WithCancel(context.Background())
	}
}

// untilOver returns ctx, also ended when a hand-over begins, and over
// (done once it began).
func (v *httpView) untilOver(ctx context.Context) (context.Context, context.Context, func()) {
	v.mu.Lock()
	over := v.over
	v.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(over, cancel)
	return ctx, over, func() { stop(); cancel() }
}

// Live: the loop, or a hand-over, which is alive as long as the loop's
// own check would call its step busy: past [arbiter] stuck_after in it (a
// refused upgrade's port-holder lookup took 41 s under load) it is
// stuck, as poold's log then says, and /healthz answers 503.
func (v *httpView) Live(ctx context.Context) error {
	ctx, over, done := v.untilOver(ctx)
	defer done()
	err := v.Arbiter.Live(ctx)
	if err != nil && over.Err() != nil {
		return v.Arbiter.Stuck()
	}
	return err
}

// Snapshot is the loop's, or during a hand-over the newest one it gave:
// the one taken as the hand-over began (poold has settled before then).
func (v *httpView) Snapshot(ctx context.Context) (arbiter.Snapshot, error) {
	ctx, over, done := v.untilOver(ctx)
	defer done()
	s, err := v.Arbiter.Snapshot(ctx)
	if err == nil {
		v.keep(&s)
		return s, nil
	}
	if over.Err() != nil {
		if l := v.last.Load(); l != nil && time.Since(l.Taken) < lastSnapshotAge {
			return *l, nil
		}
		return s, fmt.Errorf("poold is re-executing itself (in-place upgrade) and has no recent state to answer with; ask again: its new image answers in a moment")
	}
	return s, err
}

// Do runs req on the loop; one that a hand-over met before the loop
// took it is not run (Do drops it: should the exec fail, the loop skips
// it), and its reply says to send it again.
func (v *httpView) Do(ctx context.Context, req arbiter.Request) arbiter.Reply {
	ctx, over, done := v.untilOver(ctx)
	defer done()
	r := v.Arbiter.Do(ctx, req)
	if notRun, _ := r[wire.NotRun].(bool); notRun && over.Err() != nil {
		f := arbiter.Fail(req.ID, &arbiter.CommandError{Errno: arbiter.ErrnoFailed, Reason: fmt.Sprintf(
			"%s: not run: poold is re-executing itself (in-place upgrade); send it again: its new image answers in a moment", req.Command)})
		f[wire.NotRun] = true
		return f
	}
	return r
}

// handOverHTTP is the last step of an upgrade before the exec (its first,
// beginHandOver, answers without the loop): each HTTP listener stops
// taking connections, ends its streams and answers what
// it took, on its own and in parallel. It reports whether it logged.
func (d *daemon) handOverHTTP() (logged bool) {
	if d.view == nil {
		return false
	}
	type part interface {
		HandOver() int
		Addr() string
	}
	var parts []part
	if d.console != nil {
		parts = append(parts, d.console)
	}
	if d.probes != nil {
		parts = append(parts, d.probes)
	}
	cut := make([]int, len(parts))
	var wg sync.WaitGroup
	for i, p := range parts {
		wg.Add(1)
		go func() { defer wg.Done(); cut[i] = p.HandOver() }()
	}
	wg.Wait()
	for i, n := range cut {
		if n > 0 {
			d.log.Warn("upgrade: HTTP requests still unanswered, or websockets not yet closed, are cut by the exec; their clients must ask again (a console reconnects)",
				"address", parts[i].Addr(), "requests", n)
			logged = true
		}
	}
	return logged
}

// resumeHTTP undoes handOverHTTP: the exec did not happen. The view
// answers without the loop until the exec step ends (beginHandOver's
// end): the loop is still in it.
func (d *daemon) resumeHTTP() {
	if d.view == nil {
		return
	}
	if d.console != nil {
		d.console.Resume()
	}
	if d.probes != nil {
		d.probes.Resume()
	}
}
