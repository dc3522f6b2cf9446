package arbiter

import (
	"bufio"
	"bytes"
	"errors"
	"github.com/poold/poold/arbiter/logsink"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/poold/poold/arbiter/workerlog"
	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher"
	"github.com/poold/poold/watcher/termsafe"
)

// output takes what workers write to stdout and stderr, line by line, to
// their sinks (poold's log, a file, or nothing: workerlogs.go) and to the
// watcher's ring. Each pipe has one reader goroutine that runs until EOF,
// which comes once the worker and anything it left holding the pipe are
// gone, so a worker's last lines are written even after its exit was
// handled.
//
// Concurrency: follow, reopen and close are called from the arbiter's loop
// and Run; the readers are tracked by a WaitGroup and by the set of open
// pipes (a small shared leaf under mu) so close can cut off readers held
// open by an escaped grandchild. Sinks, rings and counters are shared
// leaves under smu (workerlogs.go).
//
// A reader waits for nothing but its pipe and, with a file sink, its own
// write(2) of a batch of whole lines: poold's logger writes into a bounded
// queue in front of stderr (arbiter/logsink, wired by cmd/poold) that drops
// lines rather than block, and a file that fails drops and counts its
// lines. The loop itself never touches a file: reopen only marks them.
type output struct {
	log    hclog.Logger
	escape bool // text log: see printable
	// lineLog makes a watcher's logger for its workers' lines (nil: log):
	// see Arbiter.lineLogs. Set before the first follow.
	lineLog func(watcher string, dropped func(lines uint64, c logsink.Cause)) hclog.Logger
	bus     *events.Bus
	wg      sync.WaitGroup
	mu      sync.Mutex
	open    map[*os.File]struct{}
	sinks   map[*os.File]*pipeSink // the sink of each open pipe, for a handover
	detach  bool                   // under mu: readers stop at their deadline, pipes stay open
	// running holds the pipes whose reader has not returned (under mu):
	// after an upgrade gave up on a reader stuck in a write, resumeAll
	// restarts only the readers that stopped.
	running map[*os.File]bool
	// pending is what a reader stopped for an upgrade had read of an
	// unfinished line; the next reader of that pipe begins with it.
	pending map[*os.File][]byte

	// epoch names this process's rings (see logQuery), or the rings an
	// upgrade's old image handed over.
	epoch atomic.Int64

	smu   sync.Mutex
	pools map[string]*poolLog    // by lower-case watcher name
	files map[string]*sharedFile // by path
	// closing holds the files whose last reader is in Close, which waits
	// for the compression of a rotated file (stopReport).
	closing map[*sharedFile]struct{}
}

// newOutput logs worker lines to log; escape says the log is text, where a
// worker's control characters must not reach poold's stderr raw. Log
// files that fail are reported on bus.
func newOutput(log hclog.Logger, escape bool, bus *events.Bus) *output {
	o := &output{log: log, escape: escape, bus: bus, open: make(map[*os.File]struct{}), sinks: make(map[*os.File]*pipeSink),
		pending: make(map[*os.File][]byte), running: make(map[*os.File]bool),
		pools: make(map[string]*poolLog), files: make(map[string]*sharedFile),
		closing: make(map[*sharedFile]struct{})}
	// In microseconds: exact as a JSON number (under 2^53).
	o.epoch.Store(time.Now().UnixMicro())
	return o
}

// maxLine is the longest line kept in one piece; longer lines are split.
// Reads go through a small buffer (most lines are short, and a pool of a
// thousand workers has two thousand readers); a longer line is gathered.
// A batch (the lines one read brought, written to a file in one write) is
// cut at maxBatch bytes.
const (
	maxLine  = 64 * 1024
	readSize = 4096
	maxBatch = 64 * 1024
	// maxBatchLines bounds a batch in lines too (whatever the sink): the
	// ring's lock is held for one batch, which status also takes.
	maxBatchLines = 256
)

func (o *output) follow(spec configs.Watcher, wid, pid int, stdout, stderr *os.File) {
	o.followAttempt(spec, wid, pid, stdout, stderr, watcher.Attempt{})
}

// followAttempt follows a worker that starts as attempt at of its slot
// (zero: not known, as for a worker adopted from an older image): once
// the slot crash-loops, poold's log holds back lines that repeat the
// previous attempt's (repeats.go).
func (o *output) followAttempt(spec configs.Watcher, wid, pid int, stdout, stderr *os.File, at watcher.Attempt) {
	pl := o.pool(spec.Name, spec.Logs.Ring)
	log := pl.log.Named("worker").With("watcher", spec.Name, "wid", wid, "pid", pid)
	for _, s := range []struct {
		f    *os.File
		name string
		to   string
	}{{stdout, "stdout", spec.Logs.Stdout}, {stderr, "stderr", spec.Logs.Stderr}} {
		ps := &pipeSink{pool: pl, wid: wid, pid: pid, stream: s.name}
		ps.format = workerlog.Format{Timestamps: spec.Logs.Timestamps, JSON: spec.Logs.JSON}
		switch {
		case s.to == configs.LogToStderr || s.to == "":
			ps.log = log.With("stream", s.name)
			ps.rep = o.attemptOutput(pl, wid, s.name, at, ps.log)
		case configs.IsLogFile(s.to):
			ps.file = o.acquire(spec.Name, configs.LogPath(s.to, spec.Name, wid), rotation(spec.Logs), spec.Umask)
		}
		o.mu.Lock()
		o.open[s.f] = struct{}{}
		o.running[s.f] = true
		o.sinks[s.f] = ps
		o.mu.Unlock()
		o.wg.Add(1)
		go o.read(s.f, ps)
	}
}

func (o *output) read(f *os.File, ps *pipeSink) {
	defer o.wg.Done()
	handed := false
	defer func() {
		if handed {
			return // the pipe stays open for the next image (handover.go)
		}
		if ps.rep != nil {
			ps.rep.end(time.Now())
		}
		o.mu.Lock()
		delete(o.running, f)
		delete(o.open, f)
		delete(o.sinks, f)
		o.mu.Unlock()
		f.Close()
		o.release(ps.pool.name, ps.file)
	}()
	r := bufio.NewReaderSize(o.source(f), readSize)
	var long []byte // a line longer than the buffer, gathered up to maxLine
	cut := false    // the last line kept was a piece cut at maxLine
	b := &batch{}
	for {
		chunk, err := r.ReadSlice('\n')
		if errors.Is(err, os.ErrDeadlineExceeded) {
			// Stopped for an upgrade: the unfinished line goes with the
			// pipe to the next image (handover.go). Unless the upgrade
			// gave up meanwhile (this reader was stuck in a write): then
			// it goes on reading.
			o.flush(ps, b)
			if ps.rep != nil {
				ps.rep.handover()
			}
			if o.stopFor(f, append(long, chunk...)) {
				handed = true
				return
			}
			long = append(long, chunk...)
			continue
		}
		full := errors.Is(err, bufio.ErrBufferFull)
		if full && len(long)+len(chunk) < maxLine {
			long = append(long, chunk...)
			continue
		}
		line := chunk
		if long != nil {
			line = append(long, chunk...)
			long = nil
		}
		if cut && !full && ending(line) {
			line = nil // the newline of a line cut right at maxLine: kept already
		}
		cut = full
		if len(line) > 0 {
			o.take(ps, b, line)
		}
		// No whole line left in the buffer: what was read goes out now,
		// before the next read, which may wait long for a newline, so a
		// quiet worker's last lines are never held back behind a prompt
		// or a progress bar still on its way.
		if !lineBuffered(r) || len(b.out) >= maxBatch || len(b.recs) >= maxBatchLines || (err != nil && !full) {
			o.flush(ps, b)
		}
		if err != nil && !full {
			if !errors.Is(err, io.EOF) && !errors.Is(err, os.ErrClosed) {
				o.log.Debug("reading worker output failed", "watcher", ps.pool.name, "pid", ps.pid, "error", err)
			}
			return
		}
	}
}

// lineBuffered reports whether r holds a whole line: the next ReadSlice
// returns it without reading. What is buffered after the last newline is
// the start of a line that the next read may wait for.
func lineBuffered(r *bufio.Reader) bool {
	p, _ := r.Peek(r.Buffered()) // never reads: no more than is buffered
	return bytes.IndexByte(p, '\n') >= 0
}

// ending reports whether line is only a line terminator.
func ending(line []byte) bool {
	return string(line) == "\n" || string(line) == "\r\n"
}

// logLine logs one line without its terminator (\n or \r\n). In the text
// log it is escaped (printable): the log is the terminal or journal a human
// reads, and a worker must not forge or erase poold's own lines there. The
// JSON log needs no escaping: its encoder escapes every control character
// and turns invalid UTF-8 into U+FFFD, so a line can only ever be a string
// value. A file sink keeps the worker's own bytes.
func (o *output) logLine(log hclog.Logger, line []byte) {
	if o.escape {
		log.Info(joinable(printable(line)))
		return
	}
	log.Info(string(line))
}

// joinable is msg, a worker's line in the text log, as hclog joins it to
// the fields, "msg: pid=...": without the colon it ends with, which the
// join's colon stands for, so that "Traceback (most recent call last):"
// reads "...last): pid=..." (it read "...last):: pid=..."). A line of a
// colon alone keeps it.
func joinable(msg string) string {
	if len(msg) > 1 && strings.HasSuffix(msg, ":") {
		return msg[:len(msg)-1]
	}
	return msg
}

// printable is line as it may appear in a text log: what a terminal
// would act on or not show escaped, as poolctl escapes it (termsafe).
func printable(line []byte) string {
	return termsafe.Line(string(line))
}

// close waits up to grace for the readers to reach EOF, then closes the
// pipes still held open (by a process that escaped its group) and waits up
// to grace again for their readers to return. A reader stuck in a write
// to its log file (a frozen filesystem, a hung NFS server) cannot be
// made to return: close says so and returns without it, since waiting
// kept poold from ever exiting, a second SIGTERM too; the process's exit
// ends it. So does a reader whose file is still compressing a rotated
// file: that is cut short, which loses nothing (stopReport).
func (o *output) close(grace time.Duration) {
	finished := make(chan struct{})
	go func() {
		o.wg.Wait()
		close(finished)
	}()
	select {
	case <-finished:
		return
	case <-time.After(grace):
	}
	o.mu.Lock()
	for f := range o.open {
		f.Close()
	}
	o.mu.Unlock()
	select {
	case <-finished:
	case <-time.After(grace):
		o.stopReport()
	}
}

// stopReport says why readers are still running when the stop gives up
// on them. A reader still holding its file is in a write that does not
// return. A reader in the file's Close waits for the compression of a
// rotated file: the exit cuts it short, which loses nothing (the rotated
// file is removed only once its .gz is whole, and the next poold to
// open that log removes the partial .gz.tmp and compresses the file
// again), so it is said at Info.
func (o *output) stopReport() {
	o.smu.Lock()
	blocked := slices.Sorted(maps.Keys(o.files))
	var cut []string
	for sf := range o.closing {
		if name := sf.f.Compressing(); name != "" {
			cut = append(cut, name)
		} else {
			blocked = append(blocked, sf.f.Path()) // pruning, or closing the file
		}
	}
	o.smu.Unlock()
	slices.Sort(cut)
	slices.Sort(blocked)
	if len(cut) > 0 {
		o.log.Info("compression of rotated worker logs cut short by the stop: each stays as it is, uncompressed; the next poold to open that log removes the partial .gz.tmp and compresses it again",
			"files", cut)
	}
	if len(blocked) > 0 {
		o.log.Warn("worker log writes still blocked (a frozen or hung filesystem?): poold stops without the lines they hold",
			"files", blocked)
	}
}
