package arbiter

import (
	"bytes"
	"maps"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/poold/poold/arbiter/logsink"
	"github.com/poold/poold/arbiter/upgrade"
	"github.com/poold/poold/arbiter/workerlog"
	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
)

// poolLog is what poold keeps of one watcher's output: its ring and the
// count of lines its sinks dropped, by cause, so that status can say what
// to do: a log file that could not be written (fix the file), poold's
// log queue that dropped lines of the "stderr" sink (give a chatty
// watcher a file), or poold's stderr that failed or is gone (give poold
// a stderr that stays open).
type poolLog struct {
	name  string
	ring  *workerlog.Ring
	lines atomic.Uint64 // read, for status without the ring's lock
	file  atomic.Uint64 // dropped: a log file could not be written
	queue atomic.Uint64 // dropped: poold's log queue was full (the "stderr" sink)
	// stderr: dropped on the "stderr" sink because poold's stderr failed
	// or is gone (`poold cfg 2>&1 | head`): no chatty watcher's doing.
	stderr atomic.Uint64
	// other are the drops an older image handed over without their cause.
	other atomic.Uint64
	// fileAt, queueAt and stderrAt are when a line was last dropped for
	// that cause (unix nanoseconds; 0: not since poold started), so status
	// tells a drop of last week from one going on (r57b oncall L2).
	fileAt, queueAt, stderrAt atomic.Int64
	// log takes the lines of its workers whose sink is "stderr", into
	// the watcher's own lane of poold's log queue (output.lineLog).
	log hclog.Logger
	// attempts are, under output.smu, the lines of the last attempt of
	// each slot's stream with a crash history (repeats.go).
	attempts map[attemptKey]*attemptLines
}

// sharedFile is a log file and the readers writing to it: the workers of
// a watcher with a per-watcher path, stdout and stderr in one file, or
// the workers of several watchers that name the same path. Its failing
// flag makes a failure reported once, and a recovery once.
type sharedFile struct {
	f     *workerlog.File
	users map[string]int // under output.smu: readers by lower-case watcher name
	refs  int            // under output.smu: readers in all

	health fileHealth
}

// pipeSink is where one pipe's lines go: poold's log (log), a file (file),
// or neither ("none"); always the ring.
type pipeSink struct {
	pool   *poolLog
	wid    int
	pid    int
	stream string
	log    hclog.Logger
	file   *sharedFile
	format workerlog.Format
	rep    *repeats // with log, in a crash-looping slot: holds back repeated lines
}

// batch is what one read brought: records for the ring and, with a file
// sink, their formatted bytes, written together.
type batch struct {
	recs []workerlog.Record
	out  []byte
	now  time.Time
}

func rotation(l configs.WorkerLogs) workerlog.Rotation {
	return workerlog.Rotation{MaxSize: int64(l.MaxSize), Period: l.Rotate, Keep: l.Keep,
		MaxAge: l.MaxAge, Compress: l.Compress}
}

// pool returns the log of watcher name, made with a ring of lines, or
// resized to it.
func (o *output) pool(name string, lines int) *poolLog {
	o.smu.Lock()
	defer o.smu.Unlock()
	key := strings.ToLower(name)
	pl := o.pools[key]
	if pl == nil {
		pl = &poolLog{name: name, ring: workerlog.NewRing(lines), log: o.log}
		if o.lineLog != nil {
			pl.log = o.lineLog(name, func(n uint64, c logsink.Cause) {
				if c == logsink.OutputFailed {
					pl.stderr.Add(n)
					pl.stderrAt.Store(time.Now().UnixNano())
					return
				}
				pl.queue.Add(n)
				pl.queueAt.Store(time.Now().UnixNano())
			})
		}
		o.pools[key] = pl
		return pl
	}
	if pl.ring.Cap() != lines {
		pl.ring.Resize(lines)
	}
	return pl
}

// dropPool forgets the log of a watcher that is gone; readers still
// draining its workers' pipes keep their own reference.
func (o *output) dropPool(name string) {
	o.smu.Lock()
	defer o.smu.Unlock()
	delete(o.pools, strings.ToLower(name))
}

// lookup returns the log of watcher name, or nil.
func (o *output) lookup(name string) *poolLog {
	o.smu.Lock()
	defer o.smu.Unlock()
	return o.pools[strings.ToLower(name)]
}

// acquire returns the shared file at path, opened on its first write.
// The rotation settings of the latest worker win. A file it creates gets
// mode 0666 less umask, the watcher's (-1: poold's), as systemd creates
// StandardOutput=file:; one that several watchers share, that of the
// first to write it.
func (o *output) acquire(watcher, path string, rot workerlog.Rotation, umask int) *sharedFile {
	o.smu.Lock()
	defer o.smu.Unlock()
	sf := o.files[path]
	if sf == nil {
		f := workerlog.Open(path, rot, nil)
		if umask >= 0 {
			f = workerlog.OpenUmask(path, rot, os.FileMode(umask), nil)
		}
		sf = &sharedFile{f: f, users: make(map[string]int)}
		o.files[path] = sf
	} else {
		sf.f.SetRotation(rot)
	}
	sf.refs++
	sf.users[strings.ToLower(watcher)]++
	return sf
}

// release drops a reader's hold on sf (a reader of watcher's) and closes
// the file after the last.
func (o *output) release(watcher string, sf *sharedFile) {
	if sf == nil {
		return
	}
	o.smu.Lock()
	sf.refs--
	key := strings.ToLower(watcher)
	if sf.users[key]--; sf.users[key] <= 0 {
		delete(sf.users, key)
	}
	last := sf.refs == 0
	if last {
		delete(o.files, sf.f.Path())
		o.closing[sf] = struct{}{}
	}
	o.smu.Unlock()
	if last {
		sf.f.Close() // waits for the compression of a rotated file
		o.smu.Lock()
		delete(o.closing, sf)
		o.smu.Unlock()
	}
}

// reopen makes the open files of watcher name (every watcher when name is
// "") reopen their path before their next write, and returns their paths:
// every file a reader of name writes, shared with other watchers or not.
// It does no I/O.
func (o *output) reopen(name string) []string {
	o.smu.Lock()
	defer o.smu.Unlock()
	var paths []string
	for path, sf := range o.files {
		if name == "" || sf.users[strings.ToLower(name)] > 0 {
			sf.f.RequestReopen()
			paths = append(paths, path)
		}
	}
	slices.Sort(paths)
	return paths
}

// take adds one line (with its terminator) to the batch and, for poold's
// own log, logs it at once. The ring, poold's log and a JSON file get the
// line without its terminator, \n or \r\n; a plain file gets it as the
// worker wrote it, \r\n included.
func (o *output) take(ps *pipeSink, b *batch, line []byte) {
	crlf := false
	if l, ok := bytes.CutSuffix(line, []byte{'\n'}); ok {
		line, crlf = bytes.CutSuffix(l, []byte{'\r'})
	}
	if b.now.IsZero() {
		b.now = time.Now()
	}
	b.recs = append(b.recs, workerlog.Record{Time: b.now, Watcher: ps.pool.name, Wid: ps.wid,
		Pid: ps.pid, Stream: ps.stream, Line: string(line)})
	switch {
	case ps.file != nil:
		b.out = ps.format.Append(b.out, &b.recs[len(b.recs)-1])
		if crlf && !ps.format.JSON {
			b.out = append(b.out[:len(b.out)-1], "\r\n"...) // Append ends it with \n
		}
	case ps.rep != nil:
		ps.rep.line(line, b.now)
	case ps.log != nil:
		o.logLine(ps.log, line)
	}
}

// flush writes the batch to the file sink in one write and to the ring.
func (o *output) flush(ps *pipeSink, b *batch) {
	if len(b.recs) == 0 {
		return
	}
	if ps.file != nil {
		o.writeFile(ps, b.out, uint64(len(b.recs)))
	}
	ps.pool.ring.Add(b.recs)
	ps.pool.lines.Add(uint64(len(b.recs)))
	b.recs = b.recs[:0]
	b.out = b.out[:0]
	b.now = time.Time{}
}

// writeFile writes p, n whole lines, to ps's file; on failure the lines are
// dropped and counted. A failure is reported (log and log_error event,
// with the path), and its end, as fileHealth says, each with the lines
// the failure dropped so far.
func (o *output) writeFile(ps *pipeSink, p []byte, n uint64) {
	sf := ps.file
	_, err := sf.f.Write(p)
	if err != nil {
		ps.pool.file.Add(n)
		ps.pool.fileAt.Store(time.Now().UnixNano())
	}
	by := failedWrite{watcher: ps.pool.name, stream: ps.stream, wid: ps.wid}
	note := sf.health.wroteBy(err, n, time.Now(), by)
	switch {
	case note.failed:
		o.fileFailed(sf, by, note.dropped, err)
	case note.recovered:
		o.log.Info("worker log file writable again", "watcher", ps.pool.name, "path", sf.f.Path(), "dropped", note.dropped)
	}
	if err := sf.f.RotateFailure(); err != nil && sf.health.rotateFailed(time.Now()) {
		o.log.Error("cannot rotate a worker log file: it keeps taking lines and grows past its rotation until poold may rename it in its directory; fix the directory's permissions, or rotate the file with logrotate (log_max_size = 0, log_rotate = \"\", poolctl reopen in postrotate)",
			"watcher", ps.pool.name, "path", sf.f.Path(), "error", err)
		o.bus.Publish(ps.pool.name, events.KindLogError, map[string]any{
			"path": sf.f.Path(), "stream": ps.stream, "process_id": ps.wid, "reason": err.Error()})
	}
	if cf := sf.f.CompressFailure(); cf != nil && sf.health.compressFailed(time.Now()) {
		o.log.Error(compressFailure(cf.Err), "watcher", ps.pool.name, "path", cf.Path, "error", cf.Err)
		o.bus.Publish(ps.pool.name, events.KindLogError, map[string]any{
			"path": cf.Path, "stream": ps.stream, "process_id": ps.wid, "reason": cf.Error()})
	}
	if sf.f.RotateRecovered() && sf.health.rotateRecovered() {
		o.log.Info("worker log file rotates again", "watcher", ps.pool.name, "path", sf.f.Path())
	}
	if sf.f.Replaced() {
		o.log.Info("worker log file renamed or replaced under poold (logrotate without poolctl reopen or SIGUSR1 in postrotate?): poold now writes the file at its path",
			"watcher", ps.pool.name, "path", sf.f.Path())
	}
}

// fileFailed reports that sf could not take the lines of by: in the log,
// with what to do, and as a log_error event.
func (o *output) fileFailed(sf *sharedFile, by failedWrite, dropped uint64, err error) {
	o.log.Error(fileFailure(err), "watcher", by.watcher, "path", sf.f.Path(), "dropped", dropped, "error", err)
	o.bus.Publish(by.watcher, events.KindLogError, map[string]any{
		"path": sf.f.Path(), "stream": by.stream, "process_id": by.wid, "reason": err.Error()})
}

// reportDue reports the file failures held back within the minute after
// a report, once that minute is over (fileHealth.due); the loop's tick
// calls it.
func (o *output) reportDue(now time.Time) {
	if o == nil {
		return
	}
	o.smu.Lock()
	var troubled []*sharedFile
	for _, sf := range o.files {
		if sf.health.troubled.Load() {
			troubled = append(troubled, sf)
		}
	}
	o.smu.Unlock()
	for _, sf := range troubled {
		if note, by, err := sf.health.due(now); note.failed {
			o.fileFailed(sf, by, note.dropped, err)
		}
	}
}

// drops are the lines a watcher's sinks dropped, by cause and in all.
type drops struct{ file, queue, stderr, all uint64 }

// dropped is the lines the watcher's sinks dropped, by cause and in all.
func (pl *poolLog) dropped() drops {
	d := drops{file: pl.file.Load(), queue: pl.queue.Load(), stderr: pl.stderr.Load()}
	d.all = d.file + d.queue + d.stderr + pl.other.Load()
	return d
}

// dropsOf is the lines of watcher name's workers dropped, by cause
// (zero for a watcher whose workers wrote nothing yet, or without an
// output).
func (o *output) dropsOf(name string) LogDrops {
	if o == nil {
		return LogDrops{}
	}
	o.smu.Lock()
	pl := o.pools[strings.ToLower(name)]
	o.smu.Unlock()
	if pl == nil {
		return LogDrops{}
	}
	return LogDrops{File: pl.file.Load(), Queue: pl.queue.Load(), Stderr: pl.stderr.Load(), Other: pl.other.Load()}
}

// logCounters are the wire form of each watcher's log counters, for
// status: dropped in all, and of them dropped_file, dropped_queue and
// dropped_stderr by cause (added keys; a client that knows only dropped
// still works), with dropped_CAUSE_at, when that cause last dropped a
// line (unix seconds), for a cause that did since poold started.
func (o *output) logCounters() map[string]any {
	o.smu.Lock()
	defer o.smu.Unlock()
	out := make(map[string]any, len(o.pools))
	for key, pl := range o.pools {
		d := pl.dropped()
		c := map[string]any{"lines": pl.lines.Load(), "dropped": d.all,
			"dropped_file": d.file, "dropped_queue": d.queue, "dropped_stderr": d.stderr}
		for k, at := range map[string]*atomic.Int64{"dropped_file_at": &pl.fileAt, "dropped_queue_at": &pl.queueAt, "dropped_stderr_at": &pl.stderrAt} {
			if ns := at.Load(); ns != 0 {
				c[k] = float64(ns/int64(time.Millisecond)) / 1000 // unix seconds
			}
		}
		out[key] = c
	}
	return out
}

// What an upgrade hands over of each watcher's ring: its newest lines,
// at most handoverLines of them and handoverBytes of text. The state is
// JSON, encoded and decoded while no worker output is read and the
// event loop waits: whole rings (up to 4 MiB each) made an upgrade of 100
// watchers take 20 s, its writers blocked and the watchdog silent. The
// newest lines are what a follower (logs -f) had not read yet and what a
// flapping watcher's last workers wrote.
const (
	handoverLines = 200
	handoverBytes = 32 << 10
)

// handoverLogs is every watcher's ring (its newest lines) and counters,
// for an upgrade's new image, by watcher name.
func (o *output) handoverLogs() []upgrade.Log {
	o.smu.Lock()
	pools := slices.Collect(maps.Values(o.pools))
	o.smu.Unlock()
	slices.SortFunc(pools, func(a, b *poolLog) int { return strings.Compare(a.name, b.name) })
	out := make([]upgrade.Log, 0, len(pools))
	for _, pl := range pools {
		recs, last := pl.ring.Newest(handoverLines, handoverBytes)
		d := pl.dropped()
		out = append(out, upgrade.Log{Watcher: pl.name, Last: last, Lines: pl.lines.Load(), Dropped: d.all,
			DroppedFile: d.file, DroppedQueue: d.queue, DroppedStderr: d.stderr, Records: recs})
	}
	return out
}

// adoptLogs takes over the rings an upgrade's old image kept, before any
// reader adds to them; ring gives each watcher's line bound (false: the
// watcher is gone).
func (o *output) adoptLogs(logs []upgrade.Log, epoch int64, ring func(name string) (int, bool)) {
	if epoch != 0 {
		o.epoch.Store(epoch)
	}
	for _, l := range logs {
		lines, ok := ring(l.Watcher)
		if !ok {
			continue
		}
		pl := o.pool(l.Watcher, lines)
		pl.ring.Restore(l.Records, l.Last)
		pl.lines.Store(l.Lines)
		pl.file.Store(l.DroppedFile)
		pl.queue.Store(l.DroppedQueue)
		pl.stderr.Store(l.DroppedStderr)
		pl.other.Store(l.Dropped - min(l.Dropped, l.DroppedFile+l.DroppedQueue+l.DroppedStderr))
	}
}
