package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/poold/poold/arbiter/logsink"
	"github.com/poold/poold/events/zmqpub"
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

// maxBehindShown bounds the subscribers dstats names as behind.
const maxBehindShown = 5

// streamFigures is what dstats shows of each stream (events, stats), in
// flat keys as poolctl dstats prints them: <stream>_subscribers (connected
// now), <stream>_dropped (messages lost for slow subscribers, as
// poold_events_dropped_total), <stream>_evicted, and <stream>_behind, the
// subscribers with bytes queued or messages lost, the most behind first
// (who, "N bytes queued, M dropped"; "" when none is). A nil publisher
// (not started) is left out.
func streamFigures(pubs map[string]*zmqpub.Publisher) map[string]any {
	out := map[string]any{}
	for name, p := range pubs {
		if p == nil {
			continue
		}
		st := p.Stats()
		subs := p.Subscribers()
		var behind []string
		for _, s := range subs {
			if (s.Queued > 0 || s.Dropped > 0) && len(behind) < maxBehindShown {
				behind = append(behind, fmt.Sprintf("%s: %d bytes queued, %d dropped", s.Peer, s.Queued, s.Dropped))
			}
		}
		out[name+"_subscribers"] = float64(len(subs))
		out[name+"_dropped"] = float64(st.Dropped + st.Guard.Dropped)
		out[name+"_evicted"] = float64(st.Guard.Evicted)
		out[name+"_behind"] = strings.Join(behind, "; ")
	}
	return out
}
