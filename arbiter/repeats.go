package arbiter

import (
	"bytes"
	"fmt"
	"hash/maphash"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/poold/poold/watcher"
)

// A crash-looping slot's repeated output in poold's log. A worker that
// cannot import its app writes the same traceback on every attempt, and
// those tracebacks scrolled the healthy workers' lines off the terminal
// (r62 devloop 6: 1,685 lines in 8.5 minutes). So, once a slot is in a
// crash loop (watcher.Attempt.Looping), poold's log (the "stderr" sink
// only: the ring, files and events keep every line) holds back a line
// of an attempt while the attempt's lines, so far, are those of the
// slot's previous attempt, in order:
//
//   - the first line that differs (or one more than the previous attempt
//     wrote) releases the held lines, in order, and the rest of the
//     attempt streams as any worker's;
//   - an attempt that ends having written exactly the previous attempt's
//     lines gets one line instead: "output of attempt 7 is the same 56
//     lines as attempt 6 (not repeated here; poolctl logs NAME --wid 1)";
//   - one that ends having written fewer releases what it held;
//   - no line is held longer than repeatHold, nor once the attempt has
//     outlived the previous one by repeatMargin: then the held lines are
//     released and the attempt streams (a worker that recovered, and
//     begins with the banner the crashed ones wrote, is not silenced).
//
// Lines are compared by hash (maphash), exactly: a line with a pid or a
// timestamp in it differs. What a slot remembers is the hashes of its
// last attempt's first repeatLines lines, kept only while the slot has a
// crash history.

const (
	repeatLines  = 1000            // lines of an attempt remembered, 8 bytes each
	repeatBytes  = 256 << 10       // bytes of lines held back at most
	repeatHold   = 2 * time.Second // longest a line is held back
	repeatMargin = time.Second     // outliving the previous attempt by this ends the holding
	// prevWait is how long an attempt's first line waits for the
	// previous attempt's reader to reach its EOF (ended).
	prevWait = 250 * time.Millisecond
)

// repeatSeed hashes every line: hashes are compared within one process.
var repeatSeed = maphash.MakeSeed()

// attemptLines is what one attempt of a slot wrote to one stream.
type attemptLines struct {
	attempt int
	hashes  []uint64 // of the first repeatLines lines
	n       int      // lines in all
	life    time.Duration
	// done is closed by its reader at EOF, after the fields above: from
	// then on they do not change, and the next attempt may read them.
	done chan struct{}
}

// ended reports whether the attempt's reader reached its EOF, waiting
// for that up to prevWait: the next attempt's first line can come
// before it when poold is loaded (the reader is a goroutine like any).
// It waits once an attempt, and only in a crash-looping slot.
func (a *attemptLines) ended() bool {
	select {
	case <-a.done:
		return true
	default:
	}
	t := time.NewTimer(prevWait)
	defer t.Stop()
	select {
	case <-a.done:
		return true
	case <-t.C:
		return false
	}
}

// attemptKey names a slot's stream.
type attemptKey struct {
	wid    int
	stream string
}

// repeats is one pipe's holding back (a shared leaf: its reader, and the
// timer that bounds the holding).
type repeats struct {
	o     *output
	log   hclog.Logger
	hint  string // "poolctl logs NAME --wid N"
	start time.Time
	rec   *attemptLines // this attempt's, for the next one
	prev  *attemptLines // the previous attempt's, until the first line: nil if unfinished

	mu        sync.Mutex
	first     bool // the first line came
	holding   bool // lines may still be held back
	held      [][]byte
	heldBytes int
	timer     *time.Timer
	fired     chan struct{} // closed when the timer's function returned
}

// attemptOutput returns what the stream of a worker in wid, starting
// now as attempt at, does with repeated lines: nil when its slot has no
// crash history (its remembered lines are dropped).
func (o *output) attemptOutput(pl *poolLog, wid int, stream string, at watcher.Attempt, log hclog.Logger) *repeats {
	if at.N == 0 || log == nil {
		return nil
	}
	key := attemptKey{wid, stream}
	o.smu.Lock()
	defer o.smu.Unlock()
	prev := pl.attempts[key]
	if !at.AfterEarly {
		delete(pl.attempts, key)
		return nil
	}
	if pl.attempts == nil {
		pl.attempts = make(map[attemptKey]*attemptLines)
	}
	r := &repeats{o: o, log: log, start: time.Now(), rec: &attemptLines{attempt: at.N, done: make(chan struct{})}}
	pl.attempts[key] = r.rec
	if at.Looping && prev != nil {
		r.prev, r.holding = prev, true
		name := pl.name
		if strings.ContainsAny(name, " \t'\"") {
			name = strconv.Quote(name)
		}
		r.hint = fmt.Sprintf("poolctl logs %s --wid %d", name, wid)
	}
	return r
}

// line logs line, read at now, or holds it back.
func (r *repeats) line(line []byte, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.first {
		r.first = true
		if r.prev != nil && !r.prev.ended() {
			r.holding = false // the previous attempt's reader is behind: nothing to compare with
		}
	}
	i, h := r.rec.n, maphash.Bytes(repeatSeed, line)
	if i < repeatLines {
		r.rec.hashes = append(r.rec.hashes, h)
	}
	r.rec.n++
	if r.holding && !r.repeated(i, h, now, len(line)) {
		r.release()
	}
	if !r.holding {
		r.o.logLine(r.log, line)
		return
	}
	r.held = append(r.held, bytes.Clone(line))
	r.heldBytes += len(line)
	if r.timer == nil {
		wait := min(repeatHold, r.prev.life+repeatMargin-now.Sub(r.start))
		r.fired = make(chan struct{})
		r.timer = time.AfterFunc(wait, r.expire)
	}
}

// repeated reports whether the attempt's line i, of hash h and size
// bytes, read at now, may be held back: it is the previous attempt's
// line i, the attempt has not outlived that one, and the lines held stay
// under repeatBytes.
func (r *repeats) repeated(i int, h uint64, now time.Time, size int) bool {
	return i < len(r.prev.hashes) && r.prev.hashes[i] == h &&
		now.Sub(r.start) <= r.prev.life+repeatMargin && r.heldBytes+size <= repeatBytes
}

// release logs the lines held back, in order, and ends the holding:
// the rest of the attempt streams. Under mu.
func (r *repeats) release() {
	for _, l := range r.held {
		r.o.logLine(r.log, l)
	}
	r.held, r.heldBytes, r.holding = nil, 0, false
}

// expire is the timer's: a line was held for repeatHold, or the attempt
// outlived the previous one.
func (r *repeats) expire() {
	r.mu.Lock()
	r.release()
	r.mu.Unlock()
	close(r.fired)
}

// handover releases what is held: the pipe goes to the next image.
func (r *repeats) handover() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.release()
}

// end is the reader's at EOF, at now: the summary line when the attempt
// wrote exactly the previous attempt's lines, else what was held; then
// the attempt's lines are the slot's last.
func (r *repeats) end(now time.Time) {
	r.mu.Lock()
	t, fired := r.timer, r.fired
	r.mu.Unlock()
	if t != nil && !t.Stop() {
		<-fired
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.holding && r.rec.n > 0 && r.rec.n == r.prev.n {
		r.log.Info(fmt.Sprintf("output of attempt %d is the same %d lines as attempt %d (not repeated here; %s)",
			r.rec.attempt, r.rec.n, r.prev.attempt, r.hint))
		r.held, r.heldBytes, r.holding = nil, 0, false
	}
	r.release()
	r.rec.life = now.Sub(r.start)
	close(r.rec.done)
}
