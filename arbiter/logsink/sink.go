// Package logsink puts a bounded queue between poold's logger and its
// stderr, so that a slow or vanished reader of stderr (a stuck journald, a
// paused terminal, `poold cfg 2>&1 | head`) costs log lines, never
// supervision: a Write never blocks, whatever the output does.
//
// Concurrency: Write, Stats and OnDrops may be called from any goroutine.
// Write copies its record into the queue and returns at once; when the
// queue is full, or the output is gone for good, the record is dropped and
// counted. One goroutine, Run, owns the output: it writes the queued
// records in order, each in one Write call, and is the only one that can
// block (in a write to a full pipe). Close makes Run write what is queued
// and return; Done is closed then.
//
//	Write ──► queue (bounded: lines and bytes) ──► Run ──► out
//	  │ full, or out gone                            │ write fails
//	  └──────────────► dropped (counted) ◄───────────┘
//
// Workers' lines come through lanes (Lane, one per watcher), which may
// fill only part of the queue: all lanes together three quarters of it,
// one lane half of it. The rest is poold's own: a watcher that writes
// faster than stderr takes lines costs its own lines, not poold's (the
// audit of a command, a crash's cause) nor all of the other watchers'.
// Each lane's drops are counted for it and named in the drop report.
//
// After lines were dropped, the next successful write makes Run call the
// OnDrops hook with their number, and what it writes goes straight out: the
// gap is reported in the log itself as soon as the output recovers; the
// hook learns from Failure whether a write error (a full disk) or a full
// queue dropped them. Reports are at most one per ReportEvery: workers
// that write faster than the output takes lines fill and drain the queue
// thousands of times a second, and a report each time was a flood of its
// own. Drops within the interval are reported together when it is over
// (a timer of Run's, so a quiet log still gets its report), and at Close. A short write cuts a record: the next one goes out
// behind the missing newline, so each record starts a line of its own. An
// output that fails with EPIPE or EBADF is gone for good: Run stops
// writing to it and every later line is dropped at once.
package logsink

import (
	"bytes"
	"errors"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Options bound the queue. Zero values take the defaults.
type Options struct {
	// MaxLines is how many records may wait (default 4096).
	MaxLines int
	// MaxBytes is how many bytes may wait (default 1 MiB): a burst of long
	// worker lines cannot make the queue large.
	MaxBytes int
	// ReportEvery is the least time between two drop reports (default
	// 10s).
	ReportEvery time.Duration
}

// Stats are the sink's counters, for dstats and (later) metrics.
type Stats struct {
	Written uint64 // lines written to the output
	Dropped uint64 // lines dropped: queue full, write failed, or output gone
	Queued  int    // records waiting to be written
	// Stalled is how long the write in progress has been blocked; 0 when
	// Run is not in a write.
	Stalled time.Duration
	// Gone: the output failed for good (EPIPE, EBADF); nothing more is
	// written to it.
	Gone bool
	// Failing: the last write failed (ENOSPC on a full disk, EIO), so
	// lines are dropped although the output takes writes at once; the
	// next write that works clears it.
	Failing bool
}

// Sink is a bounded, non-blocking io.Writer in front of out.
type Sink struct {
	out      io.Writer
	maxBytes int
	every    time.Duration
	queue    chan record
	maxLines int
	closed   chan struct{}
	done     chan struct{}

	mu      sync.Mutex // guards closing, queued and the lanes' counts; held only around a non-blocking send
	closing bool
	queued  int // bytes in the queue
	// laneLines and laneBytes are what all lanes have in the queue;
	// lanePending the lines each lane (by name) dropped since the last
	// report.
	laneLines, laneBytes int
	lanePending          map[string]uint64

	written, dropped atomic.Uint64
	pending          atomic.Uint64         // dropped since the last report
	failure          atomic.Pointer[error] // the write error behind pending, if any
	gone             atomic.Bool
	failing          atomic.Bool // the last write failed (Stats.Failing)
	// cut: Run's own. The output holds the start of a record without its
	// newline (a short write); the next write begins with the newline.
	cut          bool
	reportedAt   time.Time     // Run's own: the last drop report
	slowest      time.Duration // Run's own: the longest write since the last report
	due          *time.Timer   // Run's own: a report held back by every
	writingSince atomic.Int64  // unix nanoseconds of the write in progress; 0: none
	onDrops      atomic.Pointer[func(out io.Writer, d Drops)]
}

// New returns a sink in front of out. It starts nothing: run Run.
func New(out io.Writer, o Options) *Sink {
	if o.MaxLines <= 0 {
		o.MaxLines = 4096
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = 1 << 20
	}
	if o.ReportEvery <= 0 {
		o.ReportEvery = 10 * time.Second
	}
	return &Sink{
		out:      out,
		maxBytes: o.MaxBytes,
		every:    o.ReportEvery,
		queue:    make(chan record, o.MaxLines),
		maxLines: o.MaxLines,
		closed:   make(chan struct{}),
		done:     make(chan struct{}),
	}
}

// Drops is what a drop report tells: the lines dropped since the last
// report (Lines), of which each watcher's lane dropped Watchers[name] (the
// rest are poold's own), and in all (Total); the write error that
// dropped some (Failure, nil: none), and the longest write to the output
// meanwhile (Slowest): a long one means the output was slow or blocked,
// a short one that lines came faster than poold writes them, one write
// each, and the queue was full.
type Drops struct {
	Lines, Total uint64
	Watchers     map[string]uint64
	Failure      error
	Slowest      time.Duration
}

// OnDrops sets the hook Run calls after a successful write that follows
// dropped lines, with what it dropped since the last call.
// What the hook writes to out goes straight to the output, ahead of the
// queue (a report that fails is counted into the next one); the hook runs
// on Run's goroutine and must not write to the sink itself, where the
// report would queue behind, or be dropped from, a full queue.
func (s *Sink) OnDrops(fn func(out io.Writer, d Drops)) {
	s.onDrops.Store(&fn)
}

// Write queues a copy of p, one record written to the output in one piece
// (hclog writes each entry in one call). It never blocks and never fails:
// a record that does not fit is dropped and counted.
func (s *Sink) Write(p []byte) (int, error) {
	s.put(p, nil)
	return len(p), nil
}

// record is one queued record and the lane it came by (nil: poold's own).
type record struct {
	b    []byte
	lane *Lane
}

// put queues a copy of p that came by lane (nil: poold's own), or drops
// it when the queue, or the lane's part of it, is full.
func (s *Sink) put(p []byte, lane *Lane) {
	if len(p) == 0 {
		return
	}
	if s.gone.Load() {
		s.drop(p, lane, OutputFailed)
		return
	}
	b := bytes.Clone(p)
	s.mu.Lock()
	ok := !s.closing && s.queued+len(b) <= s.maxBytes && s.laneRoom(lane, len(b))
	if ok {
		select {
		case s.queue <- record{b, lane}:
			s.queued += len(b)
			s.count(lane, 1, len(b))
		default:
			ok = false
		}
	}
	s.mu.Unlock()
	if !ok {
		s.drop(p, lane, QueueFull)
	}
}

// lines counts the lines of a record: its newlines, at least one.
func lines(p []byte) uint64 {
	if n := bytes.Count(p, []byte{'\n'}); n > 0 {
		return uint64(n)
	}
	return 1
}

// drop counts p's lines as dropped, for lane too (nil: poold's own),
// telling the lane why.
func (s *Sink) drop(p []byte, lane *Lane, c Cause) {
	n := lines(p)
	s.dropped.Add(n)
	if lane == nil {
		s.pending.Add(n)
		return
	}
	lane.onDrop(n, c)
	s.mu.Lock() // with pending: a report's Watchers never add up past its Lines
	s.pending.Add(n)
	if s.lanePending == nil {
		s.lanePending = make(map[string]uint64)
	}
	s.lanePending[lane.name] += n
	s.mu.Unlock()
}

// Run writes queued records to the output until Close, then writes what
// is still queued, reports what was dropped and not reported yet, and
// returns.
func (s *Sink) Run() {
	defer close(s.done)
	defer func() {
		if s.due != nil {
			s.due.Stop()
		}
	}()
	for {
		var due <-chan time.Time
		if s.due != nil {
			due = s.due.C
		}
		select {
		case r := <-s.queue:
			s.write(r)
		case <-due:
			s.due = nil
			s.report(true)
		case <-s.closed:
			for {
				select {
				case r := <-s.queue:
					s.write(r)
				default:
					s.report(true)
					return
				}
			}
		}
	}
}

func (s *Sink) write(r record) {
	s.mu.Lock()
	s.queued -= len(r.b)
	s.count(r.lane, -1, -len(r.b))
	s.mu.Unlock()
	if s.emit(r.b, r.lane) {
		s.report(false)
	}
}

// report calls the OnDrops hook with the lines dropped since the last
// report, if any: now, if ReportEvery has passed since then or now is
// forced (the held-back report is due, or Run is closing), else once it
// has.
func (s *Sink) report(now bool) {
	if s.pending.Load() == 0 {
		return
	}
	if wait := s.every - time.Since(s.reportedAt); !now && !s.reportedAt.IsZero() && wait > 0 {
		if s.due == nil {
			s.due = time.NewTimer(wait)
		}
		return
	}
	s.reportedAt = time.Now()
	s.mu.Lock()
	d := Drops{Lines: s.pending.Swap(0), Watchers: s.lanePending, Failure: s.Failure(), Slowest: s.slowest}
	s.lanePending, s.slowest = nil, 0
	s.mu.Unlock()
	d.Total = s.dropped.Load()
	if fn := s.onDrops.Load(); fn != nil {
		(*fn)(direct{s}, d)
	}
	s.failure.Store(nil)
}

// Failure is the write error that dropped lines since the last drop
// report (ENOSPC, say), for the OnDrops hook to name the cause; nil when
// they were dropped only because the queue was full (the output was slow
// or blocked).
func (s *Sink) Failure() error {
	if err := s.failure.Load(); err != nil {
		return *err
	}
	return nil
}

// emit writes b to the output and counts it, written or dropped. After a
// short write cut a record, b goes out behind the missing newline, so
// records never run into each other.
func (s *Sink) emit(b []byte, lane *Lane) bool {
	if s.gone.Load() {
		s.drop(b, lane, OutputFailed)
		return false
	}
	p := b
	if s.cut {
		p = append([]byte{'\n'}, b...)
	}
	start := time.Now()
	s.writingSince.Store(start.UnixNano())
	n, err := s.out.Write(p)
	s.writingSince.Store(0)
	if took := time.Since(start); took > s.slowest {
		s.slowest = took
	}
	if n > 0 {
		s.cut = p[n-1] != '\n'
	}
	s.failing.Store(err != nil)
	if err != nil {
		s.drop(b, lane, OutputFailed)
		s.failure.Store(&err)
		if gone(err) {
			s.gone.Store(true)
		}
		return false
	}
	s.written.Add(lines(b))
	return true
}

// direct writes past the queue, on Run's goroutine: the drop report goes
// out as soon as the output takes lines again, and cannot itself be
// dropped because the queue is still full.
type direct struct{ s *Sink }

func (d direct) Write(p []byte) (int, error) {
	d.s.emit(p, nil)
	return len(p), nil
}

// gone reports whether a write error means the output will never take a
// line again: the reader closed the pipe, or the fd is not open. Other
// errors (ENOSPC on a file, say) may pass, so later lines are tried.
func gone(err error) bool {
	return errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.EBADF) || errors.Is(err, os.ErrClosed)
}

// Close stops taking records (later ones are dropped) and makes Run write
// what is queued and return. It does not wait: select on Done with a
// bound, since a write to an output nobody reads may never return.
func (s *Sink) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closing {
		s.closing = true
		close(s.closed)
	}
}

// Done is closed when Run has returned.
func (s *Sink) Done() <-chan struct{} { return s.done }

// Stats returns the counters. A nil sink has none.
func (s *Sink) Stats() Stats {
	if s == nil {
		return Stats{}
	}
	st := Stats{
		Written: s.written.Load(),
		Dropped: s.dropped.Load(),
		Queued:  len(s.queue),
		Gone:    s.gone.Load(),
		Failing: s.failing.Load(),
	}
	if since := s.writingSince.Load(); since != 0 {
		st.Stalled = time.Since(time.Unix(0, since))
	}
	return st
}
