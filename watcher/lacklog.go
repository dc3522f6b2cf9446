package watcher

import (
	"time"

	"github.com/hashicorp/go-hclog"
)

// LackLogEvery is how often at most a watcher logs at warn that a slot
// could not start for want of pids, memory or fds (sharedLack). Every
// slot fails alike then, each a few times between its pauses, and none
// gives up (died): 69 slots under a pids.max wrote 60 warn lines a
// second, for as long as the want lasted. The lines in between go to
// debug; the next warn counts them (similar_left_out), and `poolctl
// status NAME` shows every slot meanwhile.
const LackLogEvery = time.Minute

// lackLog throttles a watcher's lines about slots that lack pids, memory
// or fds. Owned by the loop, as the watcher.
type lackLog struct {
	at      time.Time // of the last line at warn; zero: none yet
	leftOut int       // lines at debug since
}

// level returns the logging function for the next such line at now: log's
// Warn, the first in LackLogEvery (with the lines left out since the last
// one), else its Debug.
func (l *lackLog) level(log hclog.Logger, now time.Time) func(string, ...any) {
	if !l.at.IsZero() && now.Sub(l.at) < LackLogEvery {
		l.leftOut++
		return log.Debug
	}
	n := l.leftOut
	l.at, l.leftOut = now, 0
	if n == 0 {
		return log.Warn
	}
	return log.With("similar_left_out", n).Warn
}

// warnFor is how died logs at warn about s: through lackLog when s lacked
// pids, memory or fds, else log's Warn.
func (w *Watcher) warnFor(s *slot, log hclog.Logger) func(string, ...any) {
	if s.lacked {
		return w.lack.level(log, w.host.Now())
	}
	return log.Warn
}
