package arbiter

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher"
	"github.com/poold/poold/watcher/spawn"
)

// Run binds the sockets, starts the autostart watchers in priority order
// and serves until ctx is done or quit is received; it then stops every
// watcher gracefully (lowest priority first) and returns nil. A second
// stop request while stopping (Kill) skips the grace periods.
//
// Its stages: open the sockets, set up what the loop leans on (setUp),
// make the watchers and start or adopt their workers (bringUp), run the
// loop; tearDown undoes setUp once the loop has ended or bringUp failed.
func (a *Arbiter) Run(ctx context.Context) error {
	defer close(a.done)
	// A Run that fails before its loop still ends the wait of every Do.
	var stopOnce sync.Once
	markStopped := func() { stopOnce.Do(func() { close(a.stopped) }) }
	defer markStopped()
	a.started = time.Now()
	a.config = ConfigState{LastReloadOK: true, LastSuccess: a.started}
	runCtx, cancelRun := context.WithCancel(context.Background())
	a.runCtx = runCtx
	defer cancelRun()
	self := a.opts.Self
	if self == "" {
		var err error
		if self, err = os.Executable(); err != nil {
			return fmt.Errorf("arbiter: find poold's own executable for the exec shim: %w", err)
		}
	}
	if err := a.openSockets(); err != nil {
		return err
	}
	defer a.socks.Close()

	stopSpawner := a.setUp(self)
	defer a.tearDown(markStopped, cancelRun, stopSpawner)
	if err := a.bringUp(); err != nil {
		return err
	}
	return a.loop(ctx)
}

// setUp readies, once the sockets are open, what the watchers and the loop
// lean on: the pids poold must not take for orphans, the spawner, the
// checks of the host, the workers' output and the watcher of the loop's
// steps. The returned stop ends the spawner (tearDown calls it).
func (a *Arbiter) setUp(self string) (stopSpawner func()) {
	a.inherited = make(map[int]bool)
	if a.opts.Adopt == nil { // after an upgrade, they are the workers' and their orphans
		for _, p := range childPids(os.Getpid()) {
			a.inherited[p] = true
		}
	} else {
		for _, p := range a.opts.Adopt.Inherited { // those the first image found
			a.inherited[p] = true
		}
	}
	stopSpawner = a.startSpawner(self)
	a.checkProc()
	a.guardOOM()
	a.warnMemoryMaxAbove()
	a.output = newOutput(a.workerLog(), a.cfg.Arbiter.LogFormat != "json", a.bus)
	a.output.lineLog = a.lineLogs()
	a.bg.Add(1)
	go func() { // ends as the loop does
		defer a.bg.Done()
		a.watchSteps(a.stopped)
	}()
	return stopSpawner
}

// tearDown runs as Run returns, after the loop or a failed bringUp: it
// refuses commands from then on, ends what is left of the workers' stops,
// then stops the spawner and waits for every goroutine of the arbiter
// before it closes the cgroup tree, the notify sockets and the output.
func (a *Arbiter) tearDown(markStopped, cancelRun, stopSpawner func()) {
	markStopped()
	a.stopDemand()
	a.noteDrainsAtExit()
	a.endOrphans() // while the spawner still reaps them
	cancelRun()
	stopSpawner()
	a.waits.Wait()
	a.waitRead()
	a.bg.Wait()
	a.closeTree()
	a.removeNotifyDir()
	a.output.close(2 * time.Second)
}

// bringUp makes a watcher of each in the config, then takes over the
// workers of the image poold re-executed from or starts the autostart
// watchers, and opens Up. A watcher it cannot make kills what runs and
// fails Run.
func (a *Arbiter) bringUp() error {
	for _, spec := range a.cfg.Watchers {
		if _, err := a.addWatcher(spec); err != nil {
			a.killAll()
			return err
		}
	}
	a.filed = byName(a.cfg.Watchers)
	if a.opts.Adopt != nil && a.opts.Adopt.Filed != nil {
		a.filed = byName(a.opts.Adopt.Filed) // a.cfg holds the specs as they ran
	}
	a.noteLimits()
	a.noteGracePeriod()
	if a.opts.Adopt != nil {
		// Before the orphan reaper: it must not take an adopted worker.
		a.adoptWorkers(a.opts.Adopt)
		a.reapOrphans()
	} else {
		a.reapOrphans()
		a.bus.Publish("", events.KindStart, map[string]any{"pid": os.Getpid()})
		// What an autostart watcher depends on starts first, even with
		// autostart = false (systemd's Requires= pulls it in).
		a.startInOrder(a.withDeps(a.sorted(func(w *watcher.Watcher) bool { return w.Spec().Autostart })), nil)
	}
	a.planDemand(false)
	a.noteFds()
	close(a.up)
	if a.opts.Adopt != nil {
		a.actOnPending(a.opts.Adopt.Pending)
	}
	return nil
}

// startSpawner sets a.spawner: the one poold's main serves (Options.Spawner),
// or one of the arbiter's own, run until the returned stop is called
// (which waits for it).
func (a *Arbiter) startSpawner(self string) (stop func()) {
	if a.spawner = a.opts.Spawner; a.spawner != nil {
		return func() {}
	}
	a.spawner = spawn.New(self)
	a.spawner.SetWarn(a.log.Warn) // says once if its exec stub cannot run here
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = a.spawner.Run(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}
