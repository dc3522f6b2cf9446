package arbiter

import (
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher"
)

// The loop's steps: what it is doing right now, for the liveness check
// and the log. The loop records each message it handles (and the calls
// within one that may wait: a worker's fork) as a step, with an atomic
// store of a small struct; a probe reads it from any goroutine. A step
// that takes over stepWarnAfter is logged: by the loop at its end, with
// its duration, and by watchSteps, which looks at the step in progress
// every stepLook, while it still runs (one that never ends is named
// too). Live calls a loop that is in one step busy, not stuck, until
// that step is older than Options.StuckAfter.

const (
	// stepWarnAfter is how long a step may take before the log says so.
	stepWarnAfter = time.Second
	// stepLook is how often watchSteps looks at the step in progress.
	stepLook = 250 * time.Millisecond
	// stepStuckAfter is stuck_after's default: how long one step may
	// run before /healthz and systemd's watchdog call the loop stuck.
	stepStuckAfter = configs.DefaultStuckAfter
)

// loopStep is one step of the loop. Never changed once stored.
type loopStep struct {
	name    string // what the loop does: "exit", "spawn", "command incr"
	watcher string // whose, "" for none
	wid     int    // 0: none
	pid     int    // 0: none
	detail  string // a worker's command, ...
	began   time.Time
	// at is when the loop began the step, or came back to it from one
	// within it: the time it has been busy in it without a change.
	at time.Time
}

// String names the step: `spawn (watcher "gun" wid 2: /usr/bin/gunicorn)`.
func (s *loopStep) String() string {
	var parts []string
	if s.watcher != "" {
		parts = append(parts, "watcher "+strconv.Quote(s.watcher))
	}
	if s.wid > 0 {
		parts = append(parts, "wid "+strconv.Itoa(s.wid))
	}
	if s.pid > 0 {
		parts = append(parts, "pid "+strconv.Itoa(s.pid))
	}
	what := strings.Join(parts, " ")
	if s.detail != "" {
		what = strings.TrimPrefix(what+": "+s.detail, ": ")
	}
	if what == "" {
		return s.name
	}
	return s.name + " (" + what + ")"
}

// steps records the loop's step in progress: written on the loop, read
// anywhere.
type steps struct {
	cur atomic.Pointer[loopStep]
	// kick wakes watchSteps, which waits on it between steps: an idle
	// poold has no step and no timer to look at it.
	kick chan struct{}
	// looks counts watchSteps' looks at the step in progress (tests).
	looks atomic.Int64
}

// begin records s as the loop's step and returns it for end.
func (st *steps) begin(s loopStep) *loopStep {
	now := time.Now()
	s.began, s.at = now, now
	p := &s
	st.cur.Store(p)
	select {
	case st.kick <- struct{}{}:
	default: // one wake is enough
	}
	return p
}

// end ends the loop's step s: none in progress then. A step that took
// over stepWarnAfter is logged with its duration.
func (st *steps) end(s *loopStep, log hclog.Logger) {
	st.cur.Store(nil)
	endWarn(s, log)
}

// within records s, a step within the step in progress, and returns
// what ends it: the loop is back in the step it was in, from then on.
func (st *steps) within(s loopStep, log hclog.Logger) func() {
	outer := st.cur.Load()
	p := st.begin(s)
	return func() {
		endWarn(p, log)
		if outer == nil {
			st.cur.Store(nil)
			return
		}
		back := *outer
		back.at = time.Now()
		st.cur.Store(&back)
	}
}

func endWarn(s *loopStep, log hclog.Logger) {
	if d := time.Since(s.began); d >= stepWarnAfter {
		log.Warn("poold's event loop spent long in one step: it answered nothing else meanwhile (a liveness probe, a command, the workers' exits)",
			"step", s.String(), "took", d.Round(time.Millisecond))
	}
}

// now is the loop's step in progress, nil when it is between steps.
func (st *steps) now() *loopStep { return st.cur.Load() }

// watchSteps logs a step of the loop still in progress after
// stepWarnAfter, and again once it is past bound (stuck), until done is
// closed.
func (a *Arbiter) watchSteps(done <-chan struct{}) {
	t := time.NewTicker(stepLook)
	defer t.Stop()
	st := &a.steps
	var warned, stuck *loopStep // the steps last warned of, called stuck
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		st.looks.Add(1)
		s := st.now()
		if s == nil { // between steps: no ticks until one begins
			t.Stop()
			select {
			case <-done:
				return
			case <-st.kick:
			}
			t.Reset(stepLook)
			continue
		}
		d, bound := time.Since(s.at), a.stuckBound()
		if d >= stepWarnAfter && warned != s {
			warned = s
			a.log.Warn("poold's event loop is still in one step: it answers nothing else meanwhile (a liveness probe, a command, the workers' exits); /healthz calls it stuck past the bound",
				"step", s.String(), "for", d.Round(time.Millisecond), "bound", bound)
		}
		if d >= bound && stuck != s {
			stuck = s
			a.log.Error("poold's event loop is stuck in one step: /healthz answers 503 and systemd's watchdog gets no WATCHDOG=1 until it ends",
				"step", s.String(), "for", d.Round(time.Millisecond), "bound", bound)
		}
	}
}

// stuckBound is how long one step may run before Live calls the loop
// stuck: Options.StuckAfter (tests), else [arbiter] stuck_after as last
// loaded (a reload applies it at once). Safe from any goroutine.
func (a *Arbiter) stuckBound() time.Duration {
	if a.opts.StuckAfter > 0 {
		return a.opts.StuckAfter
	}
	if d := time.Duration(a.stuckAfter.Load()); d > 0 {
		return d
	}
	return stepStuckAfter
}

var timerNames = map[watcher.TimerKind]string{
	watcher.TimerKill: "kill", watcher.TimerRespawn: "respawn", watcher.TimerReadyDelay: "ready delay",
	watcher.TimerReadyTimeout: "ready timeout", watcher.TimerMaxAge: "max age", watcher.TimerFlapRetry: "flap retry",
	watcher.TimerHealth: "health round", watcher.TimerWarmup: "warmup", watcher.TimerMore: "more",
	watcher.TimerSurvived: "survived", watcher.TimerRecovered: "recovered",
}

// stepOf names the step of handling m, a message of the loop's inbox.
func (a *Arbiter) stepOf(m any) loopStep {
	switch m := m.(type) {
	case exitMsg:
		s := loopStep{name: "exit", pid: m.pid, detail: "and the exits queued behind it"}
		if m.owner != nil {
			s.watcher = m.owner.Name()
		}
		return s
	case *cmdMsg:
		s := loopStep{name: "command " + m.req.Command}
		s.watcher, _ = m.req.Properties["name"].(string)
		return s
	case timerMsg:
		s := loopStep{name: "timer " + timerNames[m.t.Kind], wid: m.t.Wid, pid: m.t.Pid}
		if w := a.byID[m.t.Watcher]; w != nil {
			s.watcher = w.Name()
		}
		return s
	case checkMsg:
		return loopStep{name: "health check result"}
	case sampledMsg:
		return loopStep{name: "stats sample"}
	case notifyMsg:
		return loopStep{name: "readiness notification", watcher: m.watcher}
	case demandMsg:
		return loopStep{name: "on-demand connections"}
	case moreMsg:
		return loopStep{name: "spawn turn"}
	case reloadMsg, configMsg:
		return loopStep{name: "config reload"}
	case funcMsg:
		return loopStep{name: "a read of poold's state (status, stats, probe)"}
	case execMsg:
		return loopStep{name: "upgrade's exec step", detail: "binding ahead, the hand-over, the exec"}
	case hurryMsg, killMsg, unmanagedKillMsg:
		return loopStep{name: "stop request"}
	}
	return loopStep{name: fmt.Sprintf("message %T", m)}
}
