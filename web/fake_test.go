package web

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"math"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/events"
)

// fakeBackend is an in-memory arbiter for the console's tests: watchers of
// real `sleep` processes, honouring incr/decr/kill/signal/start/stop, that
// publish spawn and reap events onto real buses and respawn a process that
// dies (from a kill or from outside).
type fakeBackend struct {
	Events *events.Bus
	Stats  *events.Bus

	clock atomic.Int64 // unix nanoseconds; both buses read it
	wg    sync.WaitGroup

	mu       sync.Mutex
	closed   bool
	watchers map[string]*fakeWatcher
	calls    []string
	callers  []string // "COMMAND by CALLER" (arbiter.CallerFrom) of each call
	signals  []string // "PID SIGNUM" of each signal command
	rounds   int
	// sampled: fields added to every sample of a watcher's workers
	// (a memory_max worker's cgroup_memory), by watcher (SetSampled).
	sampled map[string]map[string]any
	// reloadErr: reloadconfig with waiting fails with it, as poold's
	// does for a rejected config (without waiting poold says ok at once).
	reloadErr string
	// restartNeeded: reloadconfig with waiting lists these in
	// restart_needed, as poold's does for settings a reload cannot apply.
	restartNeeded []string
	// reloadWarnings: reloadconfig with waiting lists these in warnings,
	// as poold's does for the config's warnings.
	reloadWarnings []string
	// waitedTakes: a command with waiting takes this long, or until its
	// caller gives up (set before the server starts).
	waitedTakes time.Duration
	// waitingNow counts the waited commands still waiting.
	waitingNow atomic.Int32
	// callTakes: every command takes this long, or until its caller
	// gives up, as poold's do while its loop is busy (set before the
	// server starts).
	callTakes time.Duration
	// dropsGivenUp: a command whose caller gave up within callTakes is
	// answered not_run, as poold's Do answers one its loop never took.
	dropsGivenUp bool
	// notRun: every command is refused not_run, as poold's are while it
	// re-executes itself in an upgrade.
	notRun atomic.Bool
}

type fakeWatcher struct {
	name    string
	status  string
	target  int
	sockets []string
	procs   map[int]*fakeProc // pid -> process
	restart map[int]int       // wid -> restarts so far
	reason  string            // what is wrong, "" = nothing
	slots   []map[string]any  // poold's slot records; nil = Circus shape
	// restarts is poold's restart tally of status NAME; nil = Circus shape
	restarts map[string]any
}

type fakeProc struct {
	pid, wid int
	cmd      *exec.Cmd
	started  time.Time
}

// newFakeBackend starts the named watchers with n processes each.
func newFakeBackend(t testing.TB, spec map[string]int) *fakeBackend {
	t.Helper()
	f := &fakeBackend{watchers: map[string]*fakeWatcher{}}
	f.clock.Store(time.Now().UnixNano())
	now := func() time.Time { return time.Unix(0, f.clock.Load()) }
	f.Events = events.NewBus(now)
	f.Stats = events.NewBus(now)
	f.mu.Lock()
	for name, n := range spec {
		w := &fakeWatcher{name: name, status: "active", target: n, procs: map[int]*fakeProc{}, restart: map[int]int{}}
		if name == "web" {
			w.sockets = []string{"web"}
		}
		f.watchers[name] = w
		f.fill(w)
	}
	f.mu.Unlock()
	t.Cleanup(f.Close)
	return f
}

func (f *fakeBackend) now() time.Time { return time.Unix(0, f.clock.Load()) }

// Close kills every process and waits for their reapers.
func (f *fakeBackend) Close() {
	f.mu.Lock()
	f.closed = true
	for _, w := range f.watchers {
		for _, p := range w.procs {
			p.cmd.Process.Kill()
		}
	}
	f.mu.Unlock()
	f.wg.Wait()
}

// Calls returns the commands received so far.
func (f *fakeBackend) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// Signals returns "PID SIGNUM" for each signal command so far.
func (f *fakeBackend) Signals() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.signals...)
}

// Pids returns a watcher's live pids by wid.
func (f *fakeBackend) Pids(name string) map[int]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[int]int{}
	for _, p := range f.watchers[name].procs {
		out[p.wid] = p.pid
	}
	return out
}

// Fail puts a watcher in the failed state with a reason and slot records,
// as poold reports a watcher whose slots gave up, and publishes the failed
// event after which a console refreshes it.
func (f *fakeBackend) Fail(name, reason string, slots []map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w := f.watchers[name]
	w.status, w.reason, w.slots = "failed", reason, slots
	for _, s := range slots {
		if s["state"] == "failed" {
			f.Events.Publish(w.name, events.KindFailed, map[string]any{"process_id": s["wid"], "reason": s["last_exit"]})
		}
	}
}

// Restarted gives watcher name the restart tally of status NAME, and
// publishes a recycle event (a worker replaced for a limit) as poold does.
func (f *fakeBackend) Restarted(name string, tally map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w := f.watchers[name]
	w.restarts = tally
	f.Events.Publish(w.name, events.KindRecycle, map[string]any{"process_pid": 1, "process_id": 1, "reason": "over max_rss"})
}

// fill spawns processes up to target and stops the extra ones (f.mu held).
func (f *fakeBackend) fill(w *fakeWatcher) error {
	if f.closed || w.status != "active" {
		return nil
	}
	for len(w.procs) < w.target {
		if err := f.spawn(w); err != nil {
			return err
		}
	}
	if len(w.procs) > w.target {
		var ps []*fakeProc
		for _, p := range w.procs {
			ps = append(ps, p)
		}
		sort.Slice(ps, func(i, j int) bool { return ps[i].wid > ps[j].wid })
		for _, p := range ps[:len(w.procs)-w.target] {
			f.Events.Publish(w.name, events.KindKill, map[string]any{"process_pid": p.pid})
			p.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	return nil
}

func (f *fakeBackend) freeWid(w *fakeWatcher) int {
	used := map[int]bool{}
	for _, p := range w.procs {
		used[p.wid] = true
	}
	for wid := 1; ; wid++ {
		if !used[wid] {
			return wid
		}
	}
}

// spawn starts one process (f.mu held). If this test binary dies (go
// test -timeout, a kill), its sleeps must too, or they stay for an hour
// with ppid 1: each gets a parent-death signal. The kernel sends that
// signal when the thread that forked the process ends, not only the
// process, and the runtime ends a thread when a goroutine locked to it
// returns: a sleep forked from a thread that any goroutine later locks
// and leaves would be killed early. So a goroutine locked to its thread
// starts the process and waits for it (run): that thread ends only
// after the process, or with this binary.
func (f *fakeBackend) spawn(w *fakeWatcher) error {
	p := &fakeProc{wid: f.freeWid(w), cmd: exec.Command("sleep", "3600"), started: f.now()}
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	started := make(chan error, 1)
	f.wg.Add(1)
	go f.run(w, p, started)
	if err := <-started; err != nil {
		return fmt.Errorf("watcher %q: spawn: %w", w.name, err)
	}
	p.pid = p.cmd.Process.Pid
	w.procs[p.pid] = p
	f.Events.Publish(w.name, events.KindSpawn, map[string]any{"process_pid": p.pid, "process_id": p.wid})
	return nil
}

// run starts p, says so on started, then reaps it, all on one thread.
func (f *fakeBackend) run(w *fakeWatcher, p *fakeProc, started chan<- error) {
	defer f.wg.Done()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	err := p.cmd.Start()
	started <- err
	if err == nil {
		f.reap(w, p)
	}
}

// reap waits for one process, publishes its reap and keeps the watcher at
// its target.
func (f *fakeBackend) reap(w *fakeWatcher, p *fakeProc) {
	p.cmd.Wait()
	code := 0
	if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); ok {
		if ws.Signaled() {
			code = -int(ws.Signal())
		} else {
			code = ws.ExitStatus()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(w.procs, p.pid)
	f.Events.Publish(w.name, events.KindExit, map[string]any{"process_pid": p.pid, "process_id": p.wid, "exit_code": code})
	f.Events.Publish(w.name, events.KindReap, map[string]any{"process_pid": p.pid, "process_id": p.wid, "exit_code": code})
	if len(w.procs) < w.target {
		w.restart[p.wid]++
	}
	f.fill(w)
}

func (f *fakeBackend) info(w *fakeWatcher, p *fakeProc) map[string]any {
	t := float64(f.now().UnixNano()) / 1e9
	phase := float64(p.wid) + float64(len(w.name))
	// Never below 0, as a sampler's CPU: the waves reach -0.3 (a page
	// showed "-0.1%").
	cpu := max(0, 1.5+1.2*math.Sin(t/23+phase)+0.6*math.Sin(t/5+2*phase))
	rss := (22 + 3*float64(p.wid) + 2*math.Sin(t/40+phase)) * (1 << 20)
	info := map[string]any{
		"pid": p.pid, "wid": p.wid, "cmdline": "sleep 3600", "username": "root", "nice": 0,
		"cpu": math.Round(cpu*10) / 10, "mem": 0.1, "mem_info1": fmt.Sprintf("%.1fM", rss/(1<<20)), "mem_info2": "8.1M",
		"ctime": "0:00.01", "create_time": float64(p.started.UnixNano()) / 1e9, "started": float64(p.started.UnixNano()) / 1e9,
		"age": f.now().Sub(p.started).Seconds(), "children": []any{},
		"state": "running", "restarts": w.restart[p.wid], "proc_state": procState(p.pid),
	}
	maps.Copy(info, f.sampled[w.name])
	return info
}

// procState is what the kernel says of a process, in the sampler's
// words for the two states the console tells apart.
func procState(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if i := bytes.LastIndexByte(b, ')'); err == nil && i >= 0 && i+2 < len(b) && b[i+2] == 'T' {
		return "stopped"
	}
	return "sleeping"
}

// SetSampled adds fields to every later sample of watcher name's workers.
func (f *fakeBackend) SetSampled(name string, fields map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.sampled == nil {
		f.sampled = map[string]map[string]any{}
	}
	f.sampled[name] = fields
}

// Sample publishes one stats round, as poold's sampler does, advancing the
// buses' clock by one second when fast is set.
func (f *fakeBackend) Sample(fast bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fast {
		f.clock.Add(int64(time.Second))
	} else {
		f.clock.Store(time.Now().UnixNano())
	}
	f.rounds++
	for _, w := range f.watchers {
		var pids []int
		for _, p := range w.procs {
			info := f.info(w, p)
			info["subtopic"] = p.pid
			info["name"] = w.name
			f.Stats.PublishTopic("stat."+events.TopicName(w.name)+"."+strconv.Itoa(p.pid), w.name, events.KindStat, info)
			pids = append(pids, p.pid)
		}
		f.Stats.PublishTopic("stat."+events.TopicName(w.name), w.name, events.KindStat, map[string]any{"pid": pids, "name": w.name})
	}
	f.Stats.PublishTopic("stat.poold.4242", "", events.KindStat, map[string]any{
		"pid": 4242, "name": "poold", "cpu": 0.3 + 0.2*math.Sin(float64(f.rounds)/7), "mem_info1": "14.2M", "age": float64(f.rounds),
	})
}

// waitOrGiveUp waits d, or until ctx ends (its error then).
func waitOrGiveUp(ctx context.Context, d time.Duration) error {
	done := time.NewTimer(d)
	defer done.Stop()
	select {
	case <-done.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Do answers the console's commands like the arbiter would.
func (f *fakeBackend) Do(ctx context.Context, req arbiter.Request) arbiter.Reply {
	if f.callTakes > 0 {
		if err := waitOrGiveUp(ctx, f.callTakes); err != nil && f.dropsGivenUp {
			// As poold's Do: the loop never took it, it will not run.
			r := arbiter.Fail(req.ID, &arbiter.CommandError{Errno: arbiter.ErrnoFailed, Reason: req.Command + ": " + err.Error() + " before poold took the command: not run"})
			r[arbiter.NotRun] = true
			return r
		} else if err != nil {
			return arbiter.Fail(req.ID, &arbiter.CommandError{Errno: arbiter.ErrnoAsync, Reason: req.Command + ": " + err.Error()})
		}
	}
	if waiting, _ := req.Properties["waiting"].(bool); waiting && f.waitedTakes > 0 {
		f.waitingNow.Add(1)
		err := waitOrGiveUp(ctx, f.waitedTakes)
		f.waitingNow.Add(-1)
		if err != nil {
			return arbiter.Fail(req.ID, &arbiter.CommandError{Errno: arbiter.ErrnoAsync, Reason: "the caller went away: " + err.Error()})
		}
	}
	if f.notRun.Load() {
		r := arbiter.Fail(req.ID, &arbiter.CommandError{Errno: arbiter.ErrnoFailed, Reason: req.Command + ": not run: poold is re-executing itself"})
		r[arbiter.NotRun] = true
		return r
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, req.Command)
	f.callers = append(f.callers, req.Command+" by "+arbiter.CallerFrom(ctx))
	props := req.Properties
	name, _ := props["name"].(string)
	var w *fakeWatcher
	if name != "" {
		w = f.watchers[strings.ToLower(name)]
		if w == nil {
			return arbiter.Fail(req.ID, &arbiter.CommandError{Errno: arbiter.ErrnoBadProperty, Reason: fmt.Sprintf("program %s not found", name)})
		}
	}
	needW := func() arbiter.Reply {
		return arbiter.Fail(req.ID, &arbiter.CommandError{Errno: arbiter.ErrnoBadProperty, Reason: `missing "name"`})
	}
	all := func(fn func(*fakeWatcher)) {
		if w != nil {
			fn(w)
			return
		}
		for _, x := range f.watchers {
			fn(x)
		}
	}
	switch req.Command {
	case "status":
		return f.status(req.ID, w)
	case "options":
		if w == nil {
			return needW()
		}
		return arbiter.OK(req.ID, map[string]any{"options": f.options(w, arbiter.RoleFrom(ctx) == arbiter.RoleReadOnly)})
	case "stats":
		infos := map[string]map[string]any{}
		for n, x := range f.watchers {
			m := map[string]any{}
			for pid, p := range x.procs {
				m[strconv.Itoa(pid)] = f.info(x, p)
			}
			infos[n] = m
		}
		if w != nil {
			return arbiter.OK(req.ID, map[string]any{"name": w.name, "info": infos[w.name]})
		}
		return arbiter.OK(req.ID, map[string]any{"infos": infos})
	case "dstats":
		return arbiter.OK(req.ID, map[string]any{"info": map[string]any{"pid": 4242, "cpu": 0.2, "mem_info1": "14M", "age": 12.0}})
	case "listsockets":
		return arbiter.OK(req.ID, map[string]any{"sockets": []map[string]any{{"fd": 3, "name": "web", "backlog": 2048, "host": "127.0.0.1", "port": 8000}}})
	case "numprocesses":
		if w == nil {
			return needW()
		}
		return arbiter.OK(req.ID, map[string]any{"numprocesses": len(w.procs)})
	case "incr", "decr":
		if w == nil {
			return needW()
		}
		nb := 1
		if v, ok := props["nb"].(float64); ok {
			nb = int(v)
		}
		if req.Command == "decr" {
			nb = -nb
		}
		w.target = max(0, w.target+nb)
		if err := f.fill(w); err != nil {
			return arbiter.Fail(req.ID, &arbiter.CommandError{Errno: arbiter.ErrnoOS, Reason: err.Error()})
		}
		return arbiter.OK(req.ID, map[string]any{"numprocesses": w.target})
	case "kill", "signal":
		if w == nil {
			return needW()
		}
		pid := int(toFloat(props["pid"]))
		p := w.procs[pid]
		if p == nil {
			return arbiter.Fail(req.ID, &arbiter.CommandError{Errno: arbiter.ErrnoBadProperty, Reason: fmt.Sprintf("watcher %q has no process %d", w.name, pid)})
		}
		sig := syscall.SIGKILL
		if req.Command == "signal" {
			sig = syscall.SIGHUP // the fake only sends HUP, which ends sleep
			f.signals = append(f.signals, fmt.Sprintf("%d %v", pid, props["signum"]))
		}
		f.Events.Publish(w.name, events.KindKill, map[string]any{"process_pid": pid})
		p.cmd.Process.Signal(sig)
		return arbiter.OK(req.ID, nil)
	case "stop":
		all(func(x *fakeWatcher) {
			x.status = "stopped"
			for _, p := range x.procs {
				p.cmd.Process.Signal(syscall.SIGTERM)
			}
			f.Events.Publish(x.name, events.KindStop, nil)
		})
		return arbiter.OK(req.ID, nil)
	case "start", "restart", "reload":
		all(func(x *fakeWatcher) {
			x.status = "active"
			f.Events.Publish(x.name, events.KindStart, nil)
			f.fill(x)
		})
		return arbiter.OK(req.ID, nil)
	case "reloadconfig":
		if wait, _ := req.Properties["waiting"].(bool); wait && f.reloadErr != "" {
			return arbiter.Fail(req.ID, &arbiter.CommandError{Errno: arbiter.ErrnoAsync, Reason: f.reloadErr})
		}
		f.Events.Publish("", events.KindReloadConfig, nil)
		if wait, _ := req.Properties["waiting"].(bool); wait {
			fields := map[string]any{"restart_needed": append([]string{}, f.restartNeeded...)}
			if len(f.reloadWarnings) > 0 {
				fields["warnings"] = append([]string{}, f.reloadWarnings...)
			}
			return arbiter.OK(req.ID, fields)
		}
		return arbiter.OK(req.ID, nil)
	}
	return arbiter.Fail(req.ID, &arbiter.CommandError{Errno: arbiter.ErrnoUnknownCmd, Reason: "unknown command " + req.Command})
}

// status answers "status" like poold's arbiter: reason and slots only
// when the watcher has them, reasons only for watchers with one (f.mu held).
func (f *fakeBackend) status(id string, w *fakeWatcher) arbiter.Reply {
	if w != nil {
		rep := map[string]any{"status": w.status}
		if w.reason != "" {
			rep["reason"] = w.reason
		}
		if w.slots != nil {
			rep["slots"] = w.slots
		}
		if w.restarts != nil {
			rep["restarts"] = w.restarts
		}
		return arbiter.OK(id, rep)
	}
	st, reasons := map[string]string{}, map[string]string{}
	for n, x := range f.watchers {
		st[n] = x.status
		if x.reason != "" {
			reasons[n] = x.reason
		}
	}
	rep := map[string]any{"statuses": st}
	if len(reasons) > 0 {
		rep["reasons"] = reasons
	}
	return arbiter.OK(id, rep)
}

// options is every option of w, as poold reports them: durations in
// seconds, counts as numbers. Only "web" has a health check, but every
// watcher reports the health keys, as poold does.
// fakeSecret is the value of every fake watcher's env DB_PASSWORD, which
// options withholds from a read-only caller as poold does.
const fakeSecret = "fake-db-password"

func (f *fakeBackend) options(w *fakeWatcher, readOnly bool) map[string]any {
	env := map[string]any{"DB_PASSWORD": fakeSecret}
	if readOnly {
		env["DB_PASSWORD"] = arbiter.Withheld
	}
	o := map[string]any{"env": env,
		"numprocesses": w.target, "cmd": "sleep", "args": []string{"3600"}, "sockets": w.sockets,
		"graceful_timeout": 30.0, "backoff_min": 0.1, "backoff_max": 30.0, "respawn": true,
		"readiness": "spawn", "ready_delay": 0.0, "ready_timeout": 60.0, "ready_address": "", "ready_url": "",
		"health_check": "", "health_url": "", "health_address": "", "health_cmd": "",
		"health_interval": 10.0, "health_timeout": 5.0, "health_threshold": 3,
	}
	if w.name == "web" {
		o["health_check"], o["health_url"] = "http", "http://127.0.0.1:8000/healthz"
	}
	return o
}

func (f *fakeBackend) roundsDone() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rounds
}
