package arbiter

import (
	"context"
	"strings"
	"syscall"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher"
	"github.com/poold/poold/watcher/procinfo"
	"github.com/poold/poold/watcher/spawn"
)

// The loop's messages: what goroutines off the loop post to it.

type exitMsg struct {
	pid   int
	proc  *spawn.Proc      // which process of that pid
	owner *watcher.Watcher // its watcher when it started
	end   watcher.End
}

type timerMsg struct{ t watcher.Timer }

type killMsg struct{}

type hurryMsg struct{ sig syscall.Signal }

type checkMsg struct {
	c   watcher.Check
	err error
}

type sampledMsg struct {
	samples map[int]procinfo.Info
}

type configMsg struct {
	cfg          *configs.Config
	began        map[*watcher.Watcher]bool // the watchers when the reload was asked for
	err          error
	closeRemoved func() error // closes the sockets the config dropped
	reply        func(reloadOutcome, error)
}

type funcMsg struct{ fn func() }

// execMsg is an upgrade's pre-flight done (its new version, or why it
// failed): the loop goes on to the exec step (execUpgrade). A message of
// its own so that the step is named as what it is (stepOf): it holds the
// loop for the bind ahead, the hand-over and the exec.
type execMsg struct {
	m      *cmdMsg
	newVer string
	err    error
}

// post delivers a message to the loop unless it is gone.
func (a *Arbiter) post(m any) bool {
	select {
	case a.inbox <- m:
		return true
	case <-a.stopped:
		return false
	}
}

// Hurry passes sig, poold's second stop request (SIGTERM, SIGINT), on to
// every worker being stopped, as its stop_signal goes: Celery, RQ,
// Dramatiq and uvicorn read a second TERM or INT as "cold shutdown now",
// so they give up their jobs as they would by hand rather than be
// SIGKILLed. Their graceful_timeout still holds; Kill is the third.
func (a *Arbiter) Hurry(sig syscall.Signal) {
	a.post(hurryMsg{sig: sig})
}

// Kill makes a stop in progress immediate: SIGKILL to every worker's
// process group (the third SIGTERM/SIGINT).
func (a *Arbiter) Kill() {
	a.hurryOnce.Do(func() { close(a.hurry) })
	a.post(killMsg{})
}

// loop is the arbiter's event loop: it serves messages until every
// watcher has stopped after a shutdown.
func (a *Arbiter) loop(ctx context.Context) error {
	a.loopCtx = ctx
	ctxDone, quit := ctx.Done(), a.quit
	tick := time.NewTicker(checkDelay)
	defer tick.Stop()
	for {
		if a.failExit != nil && !a.stopping {
			a.shutdown() // a watcher with failure_action = "exit" failed
		}
		if a.stopping {
			a.releaseSockets()
		}
		if a.stopping && len(a.owner) == 0 && len(a.unmanaged) == 0 && a.allStopped() && !a.hooksHold() {
			for _, m := range a.quitWaiting {
				m.ok(nil)
			}
			a.bus.Publish("", events.KindStop, nil)
			if a.failExit != nil {
				return a.failExit
			}
			return nil
		}
		a.work.Add(1) // see Live
		a.turnSpawns = 0
		select {
		case <-ctxDone:
			ctxDone = nil
			s := a.steps.begin(loopStep{name: "shutdown"})
			a.shutdown()
			a.steps.end(s, a.log)
		case <-quit:
			quit = nil
			s := a.steps.begin(loopStep{name: "shutdown"})
			a.shutdown()
			a.steps.end(s, a.log)
		case m := <-a.inbox:
			s := a.steps.begin(a.stepOf(m)) // see Live
			if e, ok := m.(exitMsg); ok {
				a.exits(e)
			} else {
				a.handle(m)
			}
			a.steps.end(s, a.log)
		case <-tick.C:
			s := a.steps.begin(loopStep{name: "periodic check (reconcile, strays, limits, accept queues)"})
			for _, w := range a.watchers {
				w.Reconcile()
			}
			a.expireParked()
			a.nameStrays()
			if n := a.outer.Observe(); n > 0 { // an OOM kill of no worker's is not claimed later
				a.outerChildOOM(n)
			}
			a.output.reportDue(time.Now()) // a log file failure held back within its minute
			a.notePidsLimit()
			a.noteFds()
			a.lookQueues(time.Now())
			a.steps.end(s, a.log)
		}
	}
}

func (a *Arbiter) allStopped() bool {
	for _, w := range a.watchers {
		if w.Status() != watcher.Stopped {
			return false
		}
	}
	return true
}

// hooksRun reports whether a watcher's command hook still runs. A
// graceful shutdown waits for them (each ends by hook_timeout): an
// after_stop or after_reap that deregisters a worker or removes a lock
// file is what a stop is for, and exiting would kill it midway.
func (a *Arbiter) hooksRun() []string {
	var names []string
	for _, w := range a.sorted(nil) {
		if w.HooksRun() {
			names = append(names, w.Name())
		}
	}
	return names
}

// hooksHold reports whether a shutdown whose workers are all gone still
// waits for hooks, and says so in the log once.
func (a *Arbiter) hooksHold() bool {
	if a.hurried {
		return false
	}
	names := a.hooksRun()
	if len(names) > 0 && !a.hookWaitSaid {
		a.hookWaitSaid = true
		a.log.Info("waiting for hooks still running before exiting (each ends by its hook_timeout; a second SIGTERM does not wait)", "watchers", strings.Join(names, ","))
	}
	return len(names) > 0
}

func (a *Arbiter) shutdown() {
	if a.stopping {
		return
	}
	a.noteStopping()
	a.stopping = true
	ws := a.sorted(nil)
	upTo, order := a.stopBound(ws, false)
	// up_to is what an orchestrator's grace period must exceed: one that
	// kills poold sooner cuts the stop of the watchers that stop last.
	a.log.Info("stopping all watchers", "watchers", len(a.watchers), "up_to", upTo, "slowest_in_order", order)
	a.stopInOrder(ws, nil)
	a.stopUnmanaged(false)
}

func (a *Arbiter) killAll() {
	for _, w := range a.watchers {
		w.Kill()
	}
}

func (a *Arbiter) handle(m any) {
	if d, ok := m.(demandMsg); ok {
		a.demanded(d)
		return
	}
	defer a.planDemand(false) // a command, exit or timer may make a pool cold or warm
	switch m := m.(type) {
	case *cmdMsg:
		a.dispatch(m)
		a.noteLimits() // set, add, rm may change them
	case exitMsg:
		if a.procs[m.pid] != m.proc {
			a.endedEarlier(m)
			return
		}
		w := a.owner[m.pid]
		delete(a.procs, m.pid)
		delete(a.owner, m.pid)
		delete(a.groups, m.pid)
		m.end.OOMTold = a.oomTold(m.pid)
		a.stops.drop(m.pid)
		delete(a.unmanaged, m.pid)
		if w != nil {
			w.Ended(m.pid, m.end)
		}
	case moreMsg:
		a.serveMore()
	case timerMsg:
		// By identity: a watcher removed and added again under the same
		// name never gets the timers of the one it replaced.
		if w := a.byID[m.t.Watcher]; w != nil && !a.endedBeforeKill(m.t) {
			w.Fire(m.t)
		}
	case checkMsg:
		if w := a.byID[m.c.Watcher]; w != nil {
			w.Checked(m.c, m.err)
		}
	case sampledMsg:
		for pid, in := range m.samples {
			if w := a.owner[pid]; w != nil {
				// A worker's limits judge the processes it started
				// too: a gunicorn master's own memory is a small part.
				pk := in.Peak()
				w.SampledPeak(pid, watcher.Sample{RSS: pk.RSS, RSSPid: pk.RSSPid, CPU: pk.CPU, CPUPid: pk.CPUPid})
			}
		}
	case notifyMsg:
		a.notified(m)
	case hurryMsg:
		n := 0
		for _, w := range a.watchers {
			n += w.Hurry(m.sig)
		}
		a.log.Warn("second stop request: passed the signal on to every worker being stopped (a job runner's cold shutdown); "+
			"their graceful_timeout still holds; send it a third time to kill every worker now",
			"signal", configs.SignalName(m.sig), "workers", n)
	case killMsg:
		a.log.Warn("third stop request: killing every worker now")
		a.noteStopping()
		a.stopping, a.hurried = true, true
		a.killAll()
		a.stopUnmanaged(true)
	case unmanagedKillMsg:
		a.killUnmanaged(m.pid, "did not stop within graceful_timeout")
	case reloadMsg:
		a.signalled.reload.Add(-1)
		a.reloadConfig(a.logReload)
	case configMsg:
		if m.err != nil {
			a.refuseReload(m.reply, a.explainBind(m.err, m.cfg))
			a.readDone()
			break
		}
		a.applyConfig(m.cfg, m.began, m.closeRemoved, m.reply)
		a.noteLimits()
		a.readDone()
	case funcMsg:
		m.fn()
	case execMsg:
		a.execUpgrade(m.m, m.newVer, m.err)
	}
}
