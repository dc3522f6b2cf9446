package metrics

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/poold/poold/arbiter"
)

// Scrapes that come together share one read of the pools (single
// flight): the loop is asked for one Snapshot and /proc is read once,
// whoever scrapes. A scrape that arrives while a read runs waits for it
// and uses its result, as long as that result is fresh: the read is
// still waiting for the loop (what it gets is newer than the scrape), or
// its Snapshot is at most shareAge old. Nothing is kept once a read ends:
// poold does no work between scrapes and never answers from a cache.
// The read is cut at the latest bound of the scrapes that share it (a
// cutoff): one that joins with a longer bound than the scrape that began
// the read (a second Prometheus with a longer scrape_timeout) moves the
// cut to its own, so each scrape gets what its own bound allows. One that
// comes once the cut has come starts a read of its own.
//
// The read runs on a goroutine of its own, which the Exporter owns: Run
// waits for it before it returns. Scrapes only wait for it, each until
// its own bounds (bounds.go): a scrape whose scraper gives up stops
// waiting at once and frees its slot, and one whose bound comes first
// answers with what the read has by then. The loop's Snapshot (pools,
// counts, states) is waited for until snapBy; the /proc read of the
// workers' usage until usageBy, after which the scrape answers without
// the usage series and says so (incomplete.go). The read's goroutine
// never writes to a scrape: it publishes into its flight before closing
// a channel, and a usage read that ends after the flight's usageBy is
// thrown away unseen.
//
// /proc is read for one flight at a time: a flight whose Snapshot comes
// while an earlier flight's usage read still runs (a starved machine, a
// scrape every second) does not start a second one beside it, which
// would only slow both: it waits for that read to end (awaitReader) and
// then reads, and answers without usage, reason "busy", only if its own
// bound passes first. The earlier read stops at its next part once its
// bound has passed (arbiter.ReadWorkerUsage), so a wait lasts about as
// long as one part of one read. When poold's metrics stop (Run returns)
// every read is cut at once, and Run waits only for its current part.
//
// A read cut short is logged once (incomplete.go), however many scrapes
// shared it; each of them is counted.

// shareAge is how old a running read's Snapshot may be for a new scrape
// to share it: scrapes a second apart see the same moment.
const shareAge = time.Second

// flight is one read of the pools, shared by the scrapes that wait for
// it. snap and err are written before snapDone is closed, usage, late,
// halted and busySince before usageDone is closed; snapAt, warned and the
// cutoffs' times are guarded by the Exporter's fmu.
type flight struct {
	// snapCut and usageCut cut the Snapshot and the usage read: at the
	// latest snapBy and usageBy of the scrapes that share f.
	snapCut, usageCut *cutoff
	snapDone          chan struct{}
	snap              arbiter.Snapshot
	err               error
	snapAt            time.Time // when the Snapshot came; zero while the loop is asked
	usageDone         chan struct{}
	usage             map[int]arbiter.Usage
	// late: the usage read ended after usageCut (or was cut); its
	// result was dropped. halted: it was cut as the metrics stop.
	// busySince: none ran, as another flight's did, which began then.
	late, halted bool
	busySince    time.Time
	// warned: a scrape of f logged that it answered without usage.
	warned bool
	// waitSince: while f waits for another flight's read to end
	// (awaitReader), since when that read ran; guarded by fmu.
	waitSince time.Time
}

// fresh reports whether a scrape arriving at now with bounds b may share
// f, and if so moves f's cuts to b's when they are later. Called with fmu
// held.
func (f *flight) fresh(now time.Time, b bounds) bool {
	if f.snapAt.IsZero() {
		if !f.snapCut.extend(b.snapBy) {
			return false // the loop did not answer within the bounds so far
		}
	} else if now.Sub(f.snapAt) > shareAge {
		return false
	}
	return f.usageCut.extend(b.usageBy)
}

// errSnapCut is a flight's error when its Snapshot was cut at its bound:
// each scrape says its own (await).
var errSnapCut = errors.New("metrics: the loop's Snapshot was cut at its bound")

// errStopping answers a scrape that comes once Run has returned.
var errStopping = errors.New("poold's metrics are stopping (poold is shutting down), so the pool and worker metrics are left out of this scrape")

// read takes one Snapshot and its workers' usage, or shares a fresh read
// that is running, and waits for it within b. It stops waiting when ctx
// is done.
func (e *Exporter) read(ctx context.Context, b bounds) (*scrapeInput, error) {
	e.fmu.Lock()
	f := e.cur
	if f == nil || !f.fresh(time.Now(), b) {
		if e.stopping {
			e.fmu.Unlock()
			return nil, errStopping
		}
		f = &flight{
			snapCut:  newCutoff(e.halt, b.snapBy),
			usageCut: newCutoff(e.halt, b.usageBy),
			snapDone: make(chan struct{}), usageDone: make(chan struct{}),
		}
		e.cur = f
		e.reads.Add(1)
		go e.fly(f)
	} else {
		e.shared.Add(1)
	}
	e.fmu.Unlock()
	return e.await(ctx, f, b)
}

// await waits for f within b: the scrape's input, with the usage or
// with why it is missing.
func (e *Exporter) await(ctx context.Context, f *flight, b bounds) (*scrapeInput, error) {
	snapT := time.NewTimer(time.Until(b.snapBy))
	defer snapT.Stop()
	select {
	case <-f.snapDone:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-snapT.C:
		return nil, readError(context.DeadlineExceeded, b.snapBy.Sub(b.began))
	}
	if errors.Is(f.err, errSnapCut) {
		return nil, readError(context.DeadlineExceeded, b.snapBy.Sub(b.began))
	}
	if f.err != nil {
		return nil, f.err
	}
	in := &scrapeInput{snap: f.snap}
	usageT := time.NewTimer(time.Until(b.usageBy))
	defer usageT.Stop()
	select {
	case <-f.usageDone:
		switch {
		case f.halted:
			return nil, errStopping
		case f.late:
			in.missing = missingUsage{reason: reasonTimeout, bound: b.usageBy.Sub(b.began), scrape: b.total}
		case !f.busySince.IsZero():
			in.missing = missingUsage{reason: reasonBusy, busyFor: f.snapAt.Sub(f.busySince)}
		default:
			in.usage = f.usage
			return in, nil
		}
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-usageT.C:
		in.missing = missingUsage{reason: reasonTimeout, bound: b.usageBy.Sub(b.began), scrape: b.total}
		e.fmu.Lock()
		if !f.waitSince.IsZero() { // f never began its read: another ran
			in.missing = missingUsage{reason: reasonBusy, busyFor: f.snapAt.Sub(f.waitSince)}
		}
		e.fmu.Unlock()
	}
	in.missing.workers = workersIn(in.snap)
	e.fmu.Lock()
	first := !f.warned
	f.warned = true
	e.fmu.Unlock()
	e.incomplete(in.missing, first)
	return in, nil
}

// fly runs the read of f, on the goroutine read started for it.
func (e *Exporter) fly(f *flight) {
	defer e.reads.Done()
	defer func() {
		e.fmu.Lock()
		if e.cur == f {
			e.cur = nil
		}
		f.snapCut.end()
		f.usageCut.end()
		e.fmu.Unlock()
		close(f.usageDone)
	}()
	snap, err := e.opts.Source.Snapshot(f.snapCut.ctx)
	if err != nil {
		e.fmu.Lock()
		switch {
		case f.snapCut.timedOut():
			f.err = errSnapCut
		case f.snapCut.halted():
			f.err = errStopping
		default:
			f.err = readError(err, 0)
		}
		e.fmu.Unlock()
		close(f.snapDone)
		return
	}
	e.fmu.Lock()
	f.snapAt = time.Now()
	f.snap = snap
	close(f.snapDone)
	if !e.awaitReader(f) {
		f.halted = f.usageCut.halted()
		e.fmu.Unlock()
		return
	}
	e.reading = f
	e.fmu.Unlock()
	usage := e.opts.Source.ReadWorkerUsage(f.usageCut.ctx, snap)
	e.fmu.Lock()
	e.reading = nil
	f.late = f.usageCut.ctx.Err() != nil
	f.halted = f.usageCut.halted()
	e.fmu.Unlock()
	if !f.late {
		f.usage = usage
	}
}

// readError says what a failed read of the pools leaves out of a scrape,
// and why. It does not wrap err: scrapeErrors drops an error that is a
// context's end as the scrape's own (scrapeEnd logs that), and a read
// that ran out of its bound is poold's, to be logged.
func readError(err error, bound time.Duration) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("poold's loop did not answer this scrape's read of the pools within %v, so the pool and worker metrics are left out of it: the loop is busy or stuck (see the log around this line, and the machine's load)", bound.Round(time.Millisecond))
	}
	return fmt.Errorf("reading the pools for this scrape failed, so the pool and worker metrics are left out of it: %v", err)
}

// awaitReader waits, with e.fmu held (released while it waits), until no
// other flight reads /proc, up to f's usage bound: a read about to end
// lets f read next rather than answer without usage (a second Prometheus
// a second behind the first). It reports whether f may read; when not,
// f's busySince says since when the other read ran.
func (e *Exporter) awaitReader(f *flight) bool {
	for e.reading != nil {
		other := e.reading
		f.waitSince = other.snapAt
		e.fmu.Unlock()
		select {
		case <-other.usageDone:
			e.fmu.Lock()
		case <-f.usageCut.ctx.Done():
			e.fmu.Lock()
			f.busySince = other.snapAt // waitSince stays: it never read
			return false
		}
	}
	f.waitSince = time.Time{}
	return true
}
