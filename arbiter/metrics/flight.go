package metrics

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Scrapes that come together share one read of the pools (single
// flight): the loop is asked for one Snapshot and /proc is read once,
// whoever scrapes. A scrape that arrives while a read runs waits for it
// and uses its result, as long as that result is fresh: the read is
// still waiting for the loop (what it gets is newer than the scrape), or
// its Snapshot is at most shareAge old. A scrape whose scraper gives up
// stops waiting at once and frees its slot; the read goes on for the
// others, bounded by ScrapeTimeout. Nothing is kept once a read ends:
// poold does no work between scrapes and never answers from a cache.

// shareAge is how old a running read's Snapshot may be for a new scrape
// to share it: scrapes a second apart see the same moment.
const shareAge = time.Second

// flight is one read of the pools, shared by the scrapes that wait for
// it. in and err are written before done is closed; snapAt is guarded by
// the Exporter's fmu.
type flight struct {
	done   chan struct{}
	in     *scrapeInput
	err    error
	snapAt time.Time // when the Snapshot came; zero while the loop is asked
}

// fresh reports whether a scrape arriving at now may share f. Called
// with fmu held.
func (f *flight) fresh(now time.Time) bool {
	return f.snapAt.IsZero() || now.Sub(f.snapAt) <= shareAge
}

// read takes one Snapshot and its workers' usage, or shares a fresh read
// that is running. It stops waiting for a shared read when ctx is done;
// a read it leads runs to its end (ScrapeTimeout), for its sharers.
func (e *Exporter) read(ctx context.Context) (*scrapeInput, error) {
	e.fmu.Lock()
	f := e.cur
	if f == nil || !f.fresh(time.Now()) {
		f = &flight{done: make(chan struct{})}
		e.cur = f
		e.fmu.Unlock()
		e.fly(f)
		return f.in, f.err
	}
	e.fmu.Unlock()
	e.shared.Add(1)
	select {
	case <-f.done:
		return f.in, f.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// fly runs the read of f on the caller's goroutine and publishes it.
func (e *Exporter) fly(f *flight) {
	defer func() {
		e.fmu.Lock()
		if e.cur == f {
			e.cur = nil
		}
		e.fmu.Unlock()
		close(f.done)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), e.opts.ScrapeTimeout)
	defer cancel()
	snap, err := e.opts.Source.Snapshot(ctx)
	if err != nil {
		f.err = readError(err, e.opts.ScrapeTimeout)
		return
	}
	e.fmu.Lock()
	f.snapAt = time.Now()
	e.fmu.Unlock()
	f.in = &scrapeInput{snap: snap, usage: e.opts.Source.WorkerUsage(snap)}
}

// readError says what a failed read of the pools leaves out of a scrape,
// and why. It does not wrap err: scrapeErrors drops an error that is a
// context's end as the scrape's own (scrapeEnd logs that), and a read
// that ran out of ScrapeTimeout is poold's, to be logged.
func readError(err error, bound time.Duration) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("poold's loop did not answer this scrape's read of the pools within %v, so the pool and worker metrics are left out of it: the loop is busy or stuck (see the log around this line, and the machine's load)", bound)
	}
	return fmt.Errorf("reading the pools for this scrape failed, so the pool and worker metrics are left out of it: %v", err)
}
