// Package arbiter owns every watcher and process record of poold and runs
// the command set of the control protocol.
//
// Concurrency: one goroutine (Run's loop) owns all mutable state. Everything
// else talks to it through its inbox: commands (each with a reply channel of
// capacity 1), process exits (one Wait goroutine per child posts its exit),
// timers (grace deadlines and backoff, tagged with a generation so stale ones
// are ignored) and loaded configs. The loop never sleeps or blocks on I/O: a
// graceful stop is "signal, arm a timer, answer later", a command that must
// wait parks its reply until the watcher settles, and slow things (config
// file I/O, /proc sampling) run outside the loop. Forks happen on the
// spawner's locked OS thread.
package arbiter

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/sockets"
	"github.com/poold/poold/watcher"
	"github.com/poold/poold/watcher/procinfo"
)

// checkDelay is the period of the loop's safety-net reconcile (Circus's
// check_delay). Deaths, timers and commands act at once; the tick only
// catches what nothing else would.
const checkDelay = 5 * time.Second

// Options are the arbiter's collaborators.
type Options struct {
	Log    hclog.Logger
	Events *events.Bus // lifecycle events; nil: a private bus
	// Self is poold's own executable, re-run as the exec shim of every
	// worker. Default: os.Executable().
	Self string
	// Load re-reads the configuration (SIGHUP, reloadconfig). Nil: the
	// config cannot be reloaded.
	Load func() (*configs.Config, error)
	// Stats samples /proc for the stats and dstats commands and the stats
	// stream. Default: a new sampler.
	Stats *procinfo.Sampler
}

// Arbiter runs the watchers of one configuration.
type Arbiter struct {
	opts    Options
	log     hclog.Logger
	bus     *events.Bus
	cfg     *configs.Config
	started time.Time

	inbox   chan any
	stopped chan struct{} // closed when the loop has ended
	done    chan struct{} // closed when Run returns
	quit    chan struct{} // closed by the quit command
	quitO   sync.Once

	// Owned by the loop.
	socks    *sockets.Set
	spawner  *watcher.Spawner
	watchers map[string]*watcher.Watcher // by lower-case name
	owner    map[int]*watcher.Watcher    // pid -> watcher
	stopping bool
	output   *output

	runCtx    context.Context // cancelled when the loop ends: probes stop
	notify    map[string]*notifier
	notifyDir string

	waits sync.WaitGroup // one per child's Wait goroutine
	bg    sync.WaitGroup // config loads and other off-loop work
}

// New builds an arbiter for cfg. It does no I/O.
func New(cfg *configs.Config, opts Options) *Arbiter {
	if opts.Log == nil {
		opts.Log = hclog.NewNullLogger()
	}
	if opts.Events == nil {
		opts.Events = events.NewBus(nil)
	}
	if opts.Stats == nil {
		opts.Stats = procinfo.New()
	}
	return &Arbiter{
		opts:     opts,
		log:      opts.Log,
		bus:      opts.Events,
		cfg:      cfg,
		inbox:    make(chan any, 1024),
		done:     make(chan struct{}),
		stopped:  make(chan struct{}),
		quit:     make(chan struct{}),
		watchers: make(map[string]*watcher.Watcher),
		owner:    make(map[int]*watcher.Watcher),
	}
}

// Done is closed when Run has returned.
func (a *Arbiter) Done() <-chan struct{} { return a.done }

// Quitting is closed once the quit command was received; Run then stops
// everything and returns nil.
func (a *Arbiter) Quitting() <-chan struct{} { return a.quit }

type exitMsg struct {
	pid, code int
}

type timerMsg struct{ t watcher.Timer }

type killMsg struct{}

type checkMsg struct {
	c   watcher.Check
	err error
}

type sampledMsg struct {
	samples map[int]procinfo.Info
}

type configMsg struct {
	cfg   *configs.Config
	err   error
	reply func(error)
}

type funcMsg struct{ fn func() }

// post delivers a message to the loop unless it is gone.
func (a *Arbiter) post(m any) bool {
	select {
	case a.inbox <- m:
		return true
	case <-a.stopped:
		return false
	}
}

// Kill makes a stop in progress immediate: SIGKILL to every worker's
// process group (the second SIGTERM/SIGINT).
func (a *Arbiter) Kill() { a.post(killMsg{}) }

// Reload re-reads the configuration and applies it (SIGHUP). Errors are
// logged; an invalid config changes nothing.
func (a *Arbiter) Reload() {
	a.reloadConfig(func(err error) {
		if err != nil {
			a.log.Error("config reload rejected; nothing was changed", "error", err)
		}
	})
}

// Run binds the sockets, starts the autostart watchers in priority order
// and serves until ctx is done or quit is received; it then stops every
// watcher gracefully (lowest priority first) and returns nil. A second
// stop request while stopping (Kill) skips the grace periods.
func (a *Arbiter) Run(ctx context.Context) error {
	defer close(a.done)
	a.started = time.Now()
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
	// fds poold inherited without close-on-exec would reach every worker.
	if err := sockets.SealInherited(); err != nil {
		return fmt.Errorf("arbiter: mark inherited fds close-on-exec: %w", err)
	}
	socks, err := sockets.Bind(a.cfg.Sockets)
	if err != nil {
		return err
	}
	a.socks = socks
	defer a.socks.Close()
	for _, l := range socks.List() {
		a.log.Info("socket bound", "socket", l.Name, "address", l.Addr(), "fd", l.FD())
	}

	spawnCtx, stopSpawner := context.WithCancel(context.Background())
	a.spawner = watcher.NewSpawner(self)
	spawnDone := make(chan struct{})
	go func() {
		defer close(spawnDone)
		_ = a.spawner.Run(spawnCtx)
	}()
	a.output = newOutput(a.log)
	defer func() {
		close(a.stopped)
		cancelRun()
		stopSpawner()
		<-spawnDone
		a.waits.Wait()
		a.bg.Wait()
		a.removeNotifyDir()
		a.output.close(2 * time.Second)
	}()

	for _, spec := range a.cfg.Watchers {
		if _, err := a.addWatcher(spec); err != nil {
			a.killAll()
			return err
		}
	}
	a.bus.Publish("", "start", map[string]any{"pid": os.Getpid()})
	a.startInOrder(a.sorted(func(w *watcher.Watcher) bool { return w.Spec().Autostart }), nil)

	ctxDone, quit := ctx.Done(), a.quit
	tick := time.NewTicker(checkDelay)
	defer tick.Stop()
	for {
		if a.stopping && len(a.owner) == 0 && a.allStopped() {
			a.bus.Publish("", "stop", nil)
			return nil
		}
		select {
		case <-ctxDone:
			ctxDone = nil
			a.shutdown()
		case <-quit:
			quit = nil
			a.shutdown()
		case m := <-a.inbox:
			a.handle(m)
		case <-tick.C:
			for _, w := range a.watchers {
				w.Reconcile()
			}
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

func (a *Arbiter) shutdown() {
	if a.stopping {
		return
	}
	a.stopping = true
	a.log.Info("stopping all watchers", "watchers", len(a.watchers))
	a.stopInOrder(a.sorted(nil), nil)
}

func (a *Arbiter) killAll() {
	for _, w := range a.watchers {
		w.Kill()
	}
}

func (a *Arbiter) handle(m any) {
	switch m := m.(type) {
	case *cmdMsg:
		a.dispatch(m)
	case exitMsg:
		w := a.owner[m.pid]
		delete(a.owner, m.pid)
		if w != nil {
			w.Exited(m.pid, m.code)
		}
	case timerMsg:
		if w := a.watchers[strings.ToLower(m.t.Watcher)]; w != nil {
			w.Fire(m.t)
		}
	case checkMsg:
		if w := a.watchers[strings.ToLower(m.c.Watcher)]; w != nil {
			w.Checked(m.c, m.err)
		}
	case sampledMsg:
		for pid, in := range m.samples {
			if w := a.owner[pid]; w != nil {
				w.Sampled(pid, in.RSS, in.CPU)
			}
		}
	case notifyMsg:
		a.notified(m)
	case killMsg:
		a.log.Warn("second stop request: killing every worker now")
		a.stopping = true
		a.killAll()
	case configMsg:
		if m.err != nil {
			m.reply(m.err)
			break
		}
		a.applyConfig(m.cfg, m.reply)
	case funcMsg:
		m.fn()
	}
}

// sorted returns the watchers that match keep, highest priority first,
// then by name.
func (a *Arbiter) sorted(keep func(*watcher.Watcher) bool) []*watcher.Watcher {
	var out []*watcher.Watcher
	for _, w := range a.watchers {
		if keep == nil || keep(w) {
			out = append(out, w)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		pi, pj := out[i].Spec().Priority, out[j].Spec().Priority
		if pi != pj {
			return pi > pj
		}
		return out[i].Name() < out[j].Name()
	})
	return out
}

// orderGroups splits ws into the groups that start together: a watcher
// comes after every watcher it depends_on (within ws), and after higher
// priorities; stops run the groups in reverse.
func (a *Arbiter) orderGroups(ws []*watcher.Watcher) [][]*watcher.Watcher {
	in := map[string]*watcher.Watcher{}
	for _, w := range ws {
		in[strings.ToLower(w.Name())] = w
	}
	level := map[*watcher.Watcher]int{}
	var depth func(w *watcher.Watcher, seen map[*watcher.Watcher]bool) int
	depth = func(w *watcher.Watcher, seen map[*watcher.Watcher]bool) int {
		if l, ok := level[w]; ok {
			return l
		}
		if seen[w] { // a cycle: the config loader refuses them; do not loop
			return 0
		}
		seen[w] = true
		l := 0
		for _, d := range w.Spec().DependsOn {
			if dw, ok := in[strings.ToLower(d)]; ok {
				l = max(l, depth(dw, seen)+1)
			}
		}
		level[w] = l
		return l
	}
	for _, w := range ws {
		depth(w, map[*watcher.Watcher]bool{})
	}
	sorted := append([]*watcher.Watcher(nil), ws...)
	sort.SliceStable(sorted, func(i, j int) bool {
		wi, wj := sorted[i], sorted[j]
		if level[wi] != level[wj] {
			return level[wi] < level[wj]
		}
		if wi.Spec().Priority != wj.Spec().Priority {
			return wi.Spec().Priority > wj.Spec().Priority
		}
		return wi.Name() < wj.Name()
	})
	var groups [][]*watcher.Watcher
	for i, w := range sorted {
		if i == 0 || level[w] != level[sorted[i-1]] || w.Spec().Priority != sorted[i-1].Spec().Priority {
			groups = append(groups, nil)
		}
		groups[len(groups)-1] = append(groups[len(groups)-1], w)
	}
	return groups
}

// startInOrder starts ws group by group (dependencies first, then highest
// priority), each group once the one before has settled, that is once its
// workers are ready; then calls done.
func (a *Arbiter) startInOrder(ws []*watcher.Watcher, done func()) {
	a.inOrder(a.orderGroups(ws), (*watcher.Watcher).Start, done)
}

// stopInOrder stops ws in the reverse of the start order.
func (a *Arbiter) stopInOrder(ws []*watcher.Watcher, done func()) {
	groups := a.orderGroups(ws)
	for i, j := 0, len(groups)-1; i < j; i, j = i+1, j-1 {
		groups[i], groups[j] = groups[j], groups[i]
	}
	a.inOrder(groups, (*watcher.Watcher).Stop, done)
}

func (a *Arbiter) inOrder(groups [][]*watcher.Watcher, act func(*watcher.Watcher), done func()) {
	if len(groups) == 0 {
		if done != nil {
			done()
		}
		return
	}
	for _, w := range groups[0] {
		act(w)
	}
	whenAllSettled(groups[0], func() { a.inOrder(groups[1:], act, done) })
}

// whenAllSettled calls fn once every watcher in ws has settled.
func whenAllSettled(ws []*watcher.Watcher, fn func()) {
	left := len(ws)
	if left == 0 {
		fn()
		return
	}
	for _, w := range ws {
		w.WhenSettled(func() {
			left--
			if left == 0 {
				fn()
			}
		})
	}
}

// addWatcher creates a watcher for spec (not started).
func (a *Arbiter) addWatcher(spec configs.Watcher) (*watcher.Watcher, error) {
	socks, err := a.handoff(spec, a.cfg.Sockets)
	if err != nil {
		return nil, err
	}
	w, err := watcher.New(spec, socks, host{a}, a.log)
	if err != nil {
		return nil, err
	}
	a.watchers[strings.ToLower(spec.Name)] = w
	return w, nil
}

func (a *Arbiter) handoff(spec configs.Watcher, all []configs.Socket) (watcher.Sockets, error) {
	h, err := a.socks.Handoff(spec.SocketNames(all))
	if err != nil {
		return watcher.Sockets{}, fmt.Errorf("watcher %q: %w", spec.Name, err)
	}
	socks := watcher.Sockets{Files: h.Files, Env: h.Env, FDs: h.FDs}
	if spec.Readiness == "notify" {
		if socks.Notify, err = a.notifySocket(spec.Name); err != nil {
			return watcher.Sockets{}, err
		}
	}
	return socks, nil
}

// host is the arbiter as the watchers see it.
type host struct{ a *Arbiter }

func (h host) Now() time.Time { return time.Now() }

func (h host) Spawn(name string, wid int, spec watcher.ProcSpec) (int, error) {
	a := h.a
	if a.stopping {
		return 0, errors.New("poold is stopping")
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return 0, err
	}
	spec.Stdout, spec.Stderr = outW, errW
	p, err := a.spawner.Start(spec)
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return 0, err
	}
	a.output.follow(name, wid, p.Pid, outR, errR)
	a.owner[p.Pid] = a.watchers[strings.ToLower(name)]
	a.waits.Add(1)
	go func() {
		defer a.waits.Done()
		st, err := p.Wait()
		code := -1
		if err == nil {
			code = exitCode(st)
		}
		a.post(exitMsg{pid: p.Pid, code: code})
	}()
	return p.Pid, nil
}

func exitCode(st *os.ProcessState) int {
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return -int(ws.Signal())
	}
	return st.ExitCode()
}

func (h host) Signal(pid int, sig syscall.Signal) error {
	if err := syscall.Kill(-pid, sig); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			// The group leader may have moved itself out; signal the pid.
			return syscall.Kill(pid, sig)
		}
		return err
	}
	return nil
}

func (h host) After(d time.Duration, t watcher.Timer) {
	a := h.a
	time.AfterFunc(d, func() { a.post(timerMsg{t}) })
}

func (h host) Check(c watcher.Check, timeout time.Duration, fn func(ctx context.Context) error) {
	a := h.a
	a.bg.Add(1)
	go func() {
		defer a.bg.Done()
		ctx, cancel := context.WithTimeout(a.runCtx, timeout)
		defer cancel()
		err := fn(ctx)
		if err != nil && ctx.Err() != nil && a.runCtx.Err() == nil {
			err = fmt.Errorf("%w (gave up after %v)", err, timeout)
		}
		a.post(checkMsg{c, err})
	}()
}

func (h host) Publish(name, kind string, fields map[string]any) {
	h.a.bus.Publish(name, events.Kind(kind), fields)
}
