package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/poold/poold/arbiter/logsink"
)

// slowWrite is a write to stderr long enough to call stderr slow or
// blocked, as dstats's log_stderr calls it blocked: a file or a journald
// socket that keeps up takes a line in microseconds, and a loaded host
// (a write preempted) does not stretch that to a second.
const slowWrite = time.Second

// reportDrops says, to log (which writes past the queue), what the log
// queue dropped since its last report, by its real cause: stderr failing
// (a full disk), stderr slow or blocked (a write took slowWrite or more),
// or neither: lines came faster than poold writes them, one write each,
// and the queue was full; "stderr was slow or blocked" sent users after a
// reader that was fine. The watchers whose lines were dropped are named
// with their counts (`watchers="fstd=435507 web=3"`), and so are poold's
// own (`poold=N`), which only a flood of poold's own records drops.
func reportDrops(log hclog.Logger, d logsink.Drops) {
	args := []any{"lines", d.Lines, "total", d.Total}
	var own uint64 = d.Lines
	if len(d.Watchers) > 0 {
		var by []string
		for _, name := range slices.Sorted(maps.Keys(d.Watchers)) {
			by = append(by, fmt.Sprintf("%s=%d", name, d.Watchers[name]))
			own -= min(own, d.Watchers[name])
		}
		// Quoted also with one watcher (hclog quotes only a value with a
		// space), so that `watchers="` finds every report.
		args = append(args, "watchers", hclog.Quote(strings.Join(by, " ")))
	}
	args = append(args, "poold", own)
	switch {
	case d.Failure != nil:
		log.Warn("dropped log lines while writing stderr failed", append(args, "error", d.Failure)...)
	case d.Slowest >= slowWrite:
		log.Warn("dropped log lines while stderr was slow or blocked", append(args, "slowest_write", d.Slowest.String())...)
	default:
		log.Warn("dropped log lines: the log queue was full: lines came faster than poold writes them to stderr, one write each, though no write stalled; give a chatty watcher a log file (stdout_log, stderr_log)",
			append(args, "slowest_write", d.Slowest.String())...)
	}
}
