package arbiter

import (
	"github.com/poold/poold/arbiter/workerlog"
)

// The worker-log commands: reopen (after an external logrotate) and logs
// (the ring, for `poolctl logs` and the console).
func init() {
	commands["reopen"] = cmdReopen
	commands["logs"] = cmdLogs
}

// maxLogLines bounds one logs reply.
const maxLogLines = 10000

// cmdReopen makes the worker log files of watcher name (of every watcher
// without a name) reopen their path before their next line: the command
// for logrotate's postrotate with create mode (SIGUSR1 does the same for
// all). Reply: paths, the files that will be reopened.
func cmdReopen(a *Arbiter, m *cmdMsg) error {
	name := ""
	if m.props().has("name") {
		w, err := a.watcherProp(m)
		if err != nil {
			return err
		}
		name = w.Name()
	}
	paths := a.output.reopen(name)
	if paths == nil {
		paths = []string{}
	}
	m.ok(map[string]any{"paths": paths})
	return nil
}

// Reopen is SIGUSR1: every worker log file is reopened before its next
// line.
func (a *Arbiter) Reopen() {
	a.signalled.reopen.Add(1)
	a.post(funcMsg{fn: func() {
		a.signalled.reopen.Add(-1)
		a.reopenAll()
	}})
}

// reopenAll reopens every worker log file before its next line. On the
// loop.
func (a *Arbiter) reopenAll() {
	paths := a.output.reopen("")
	a.log.Info("reopening worker log files before their next line", "files", len(paths))
}

// cmdLogs returns recent lines of watcher name from its ring, of worker
// wid and stream when given: the last `lines` (default 10) of those after
// sequence number since (0: of all it keeps). Reply: lines (records: seq,
// time, watcher, wid, pid, stream, line), last (the watcher's last
// sequence number, to pass as since next time) and missed (lines after
// since that the ring no longer holds or that were over `lines`).
func cmdLogs(a *Arbiter, m *cmdMsg) error {
	w, err := a.watcherProp(m)
	if err != nil {
		return err
	}
	p := m.props()
	q := logQuery{}
	if q.wid, err = p.integer("wid", 0); err != nil {
		return err
	}
	if q.wid < 0 {
		return errorf(ErrnoBadProperty, "logs: wid must be a worker's wid (1 or more) or 0 for every worker, got %d", q.wid)
	}
	if q.stream, err = p.str("stream"); err != nil {
		return err
	}
	if q.stream != "" && q.stream != "stdout" && q.stream != "stderr" {
		return errorf(ErrnoBadProperty, "logs: stream must be \"stdout\" or \"stderr\", got %q", q.stream)
	}
	if q.lines, err = p.integer("lines", 10); err != nil {
		return err
	}
	if q.lines < 0 || q.lines > maxLogLines {
		return errorf(ErrnoBadProperty, "logs: lines must be between 0 and %d, got %d", maxLogLines, q.lines)
	}
	since, err := p.integer("since", 0)
	if err != nil {
		return err
	}
	if since < 0 {
		return errorf(ErrnoBadProperty, "logs: since must be >= 0, got %d", since)
	}
	q.since = uint64(since)
	pl, epoch := a.output.lookup(w.Name()), a.output.epoch.Load()
	deferReply(m, func() (map[string]any, error) { return q.run(pl, epoch), nil })
	return nil
}

type logQuery struct {
	wid, lines int
	stream     string
	since      uint64
}

// run reads the ring off the loop. epoch names the rings: line numbers
// start over in a new process (a restart), and a reader that sees another
// epoch reads from the start; an upgrade's new image keeps the rings and
// their epoch.
func (q logQuery) run(pl *poolLog, epoch int64) map[string]any {
	out := map[string]any{"lines": []workerlog.Record{}, "last": 0, "missed": 0, "epoch": epoch}
	if pl == nil {
		return out
	}
	recs, last, missed := pl.ring.Since(q.since)
	kept := recs[:0]
	for _, r := range recs {
		if (q.wid == 0 || r.Wid == q.wid) && (q.stream == "" || r.Stream == q.stream) {
			kept = append(kept, r)
		}
	}
	if q.since == 0 {
		missed = 0 // nobody asked for what came before
	}
	if len(kept) > q.lines {
		if q.since != 0 {
			// A reader that asked for at most `lines` (the console's
			// bounded rate) learns how many it skipped.
			missed += uint64(len(kept) - q.lines)
		}
		kept = kept[len(kept)-q.lines:]
	}
	out["lines"], out["last"], out["missed"] = kept, last, missed
	return out
}
