package watcher

import (
	"maps"
	"strings"
	"time"
)

// Counting restarts. A worker's Restarts is its slot's count of the times
// poold started that slot again after a death there, and a worker that
// replaces a recycled one through the rolling path (a failed health check,
// a resource limit, max_age) starts in another wid: it carries on the
// count of the worker it replaces, one more unless the reason was max_age
// (a recycle the config asks for, no fault of the worker), or after a
// kill (poolctl kill), which is no restart either. A deploy
// (reload, a spec change) and a stop and start count nothing and start
// the counts again. Besides, each watcher keeps a tally of its restarts
// by reason for as long as it exists (status NAME), which a reload or a
// stop does not reset: the same causes, counted at the same decisions,
// as poold_worker_restarts_total's reason label.

// Restart reasons, the keys of Restarts.ByReason: the values of the
// poold_worker_restarts_total metric's reason label.
const (
	RestartExit       = "exit"        // ended without poold asking (a crash, a kill, an exit)
	RestartOOM        = "oom"         // killed by the kernel's OOM killer
	RestartSpawnError = "spawn_error" // could not be started
	RestartUnhealthy  = "unhealthy"   // failed its readiness or its health checks
	RestartLimit      = "limit"       // over max_rss or max_cpu
	RestartMaxAge     = "max_age"     // recycled at max_age
)

// Restarts is a watcher's tally of restarts by reason, and the last one.
type Restarts struct {
	ByReason map[string]int `json:"by_reason,omitempty"` // only reasons counted at least once
	Last     RestartNote    `json:"last"`                // zero At: none yet
}

// RestartNote is one restart: when, which worker, and why.
type RestartNote struct {
	At     time.Time `json:"at"`
	Reason string    `json:"reason,omitempty"` // a Restart* reason
	Wid    int       `json:"wid,omitempty"`
	Pid    int       `json:"pid,omitempty"` // 0 for a worker that could not be started
	Why    string    `json:"why,omitempty"` // the exit reason or the recycle's, as the log says it
}

// Total is how many restarts the tally holds.
func (r Restarts) Total() int {
	n := 0
	for _, c := range r.ByReason {
		n += c
	}
	return n
}

// Restarts returns the watcher's restart tally (a copy).
func (w *Watcher) Restarts() Restarts {
	r := w.restartLog
	r.ByReason = maps.Clone(r.ByReason)
	return r
}

// countRestart records one restart of the watcher's, for reason.
func (w *Watcher) countRestart(reason string, wid, pid int, why string) {
	if w.restartLog.ByReason == nil {
		w.restartLog.ByReason = map[string]int{}
	}
	w.restartLog.ByReason[reason]++
	w.restartLog.Last = RestartNote{At: w.host.Now(), Reason: reason, Wid: wid, Pid: pid, Why: why}
}

// restartCause is the restart reason of a slot's death: the exit reason
// code of its last worker (Reason*), or a start that failed (why).
func restartCause(code, why string) string {
	switch {
	case strings.HasPrefix(why, spawnErrorPrefix):
		return RestartSpawnError
	case code == ReasonOOM:
		return RestartOOM
	case code == ReasonReadiness || code == ReasonUnhealthy:
		return RestartUnhealthy
	case code == ReasonLimit:
		return RestartLimit
	}
	return RestartExit
}

// owe records that the next worker started into a free wid replaces a
// recycled or killed one, whose count it carries on (n). They are bounded by the
// workers that can run at once: an owed count that no start took (the
// pool was scaled down meanwhile) goes, the oldest first; and what a
// rollout owed goes as it ends (endRoll).
func (w *Watcher) owe(n int) {
	w.owed = append(w.owed, n)
	if over := len(w.owed) - (w.spec.NumProcesses + w.surge()); over > 0 {
		w.owed = w.owed[over:]
	}
}

// freshCount sets the count of slot s, about to start a worker in a free
// wid: the count owed to the replacement of a recycled (or killed) worker,
// if any, outside a rollout; else 0, whatever an earlier worker of that
// wid had (a reload's new workers, a scale-up).
func (w *Watcher) freshCount(s *slot) {
	s.restarts = 0
	if len(w.owed) > 0 && w.roll == nil {
		s.restarts = w.owed[0]
		w.owed = w.owed[1:]
	}
}
