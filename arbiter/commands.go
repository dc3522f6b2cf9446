package arbiter

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher"
)

// cmdMsg is a command on its way to the loop.
type cmdMsg struct {
	req   Request
	reply chan answer // capacity 1
}

// answer is what the loop sends back for a command: a reply, or a way to
// complete it outside the loop (reading /proc for stats), never both.
type answer struct {
	reply  Reply
	finish func() Reply
}

func (m *cmdMsg) ok(fields map[string]any) { m.reply <- answer{reply: OK(m.req.ID, fields)} }
func (m *cmdMsg) fail(err error)           { m.reply <- answer{reply: Fail(m.req.ID, err)} }

// failWith answers with an error reply that also carries fields (poold's
// additions, such as what a reload applied and what it rolled back).
func (m *cmdMsg) failWith(err error, fields map[string]any) {
	r := Fail(m.req.ID, err)
	for k, v := range fields {
		if _, taken := r[k]; !taken {
			r[k] = v
		}
	}
	m.reply <- answer{reply: r}
}

// handler runs a command on the loop. It either answers through m at once,
// or parks m and answers later (waiting); it returns an error to answer
// with that error.
type handler func(a *Arbiter, m *cmdMsg) error

var commands map[string]handler

func init() {
	commands = map[string]handler{
		"list": cmdList, "status": cmdStatus, "numwatchers": cmdNumWatchers,
		"numprocesses": cmdNumProcesses, "start": cmdStart, "stop": cmdStop,
		"restart": cmdRestart, "reload": cmdReload, "incr": cmdIncr, "decr": cmdDecr,
		"add": cmdAdd, "rm": cmdRm, "get": cmdGet, "set": cmdSet, "options": cmdOptions,
		"globaloptions": cmdGlobalOptions, "signal": cmdSignal, "kill": cmdKill,
		"stats": cmdStats, "dstats": cmdDstats, "listsockets": cmdListSockets,
		"reloadconfig": cmdReloadConfig, "quit": cmdQuit,
	}
}

// Commands lists the command names, sorted.
func Commands() []string {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Do runs one command and returns its reply. It is safe from any goroutine;
// it gives up when ctx is done (the command may still complete on poold).
func (a *Arbiter) Do(ctx context.Context, req Request) Reply {
	if _, ok := commands[req.Command]; !ok {
		return Fail(req.ID, errorf(ErrnoUnknownCmd, "unknown command %q; known commands: %s", req.Command, strings.Join(Commands(), ", ")))
	}
	m := &cmdMsg{req: req, reply: make(chan answer, 1)}
	select {
	case a.inbox <- m:
	case <-a.stopped:
		return Fail(req.ID, errorf(ErrnoFailed, "poold is shutting down"))
	case <-ctx.Done():
		return Fail(req.ID, errorf(ErrnoFailed, "%s: %v before poold took the command", req.Command, ctx.Err()))
	}
	var ans answer
	select {
	case ans = <-m.reply:
	case <-a.stopped:
		return Fail(req.ID, errorf(ErrnoFailed, "poold shut down before %s completed", req.Command))
	case <-ctx.Done():
		return Fail(req.ID, errorf(ErrnoFailed, "%s: %v (it goes on in poold)", req.Command, ctx.Err()))
	}
	if ans.finish != nil {
		return ans.finish()
	}
	return ans.reply
}

// Handle decodes one raw request frame, runs it and encodes the reply.
// send is false for a cast (msg_type "cast"), which gets no reply.
func (a *Arbiter) Handle(ctx context.Context, raw []byte) (reply []byte, send bool) {
	req, err := DecodeRequest(raw)
	var r Reply
	switch {
	case err != nil:
		r = Fail(req.ID, err)
	case req.MsgType == "cast":
		m := &cmdMsg{req: req, reply: make(chan answer, 1)}
		if _, ok := commands[req.Command]; ok {
			a.post(m)
		}
		return nil, false
	default:
		r = a.Do(ctx, req)
	}
	b, err := json.Marshal(r)
	if err != nil {
		b, _ = json.Marshal(Fail(req.ID, fmt.Errorf("encode reply: %w", err)))
	}
	return b, true
}

func (a *Arbiter) dispatch(m *cmdMsg) {
	if a.stopping && m.req.Command != "quit" && !readOnly[m.req.Command] {
		m.fail(errorf(ErrnoFailed, "poold is shutting down; %s refused", m.req.Command))
		return
	}
	if err := commands[m.req.Command](a, m); err != nil {
		m.fail(err)
	}
}

var readOnly = map[string]bool{
	"list": true, "status": true, "numwatchers": true, "numprocesses": true, "get": true,
	"options": true, "globaloptions": true, "stats": true, "dstats": true, "listsockets": true,
}

// props reads typed properties with errors a person can act on.
type props struct {
	cmd string
	p   map[string]any
}

func (m *cmdMsg) props() props { return props{m.req.Command, m.req.Properties} }

func (p props) has(k string) bool { _, ok := p.p[k]; return ok && p.p[k] != nil }

func (p props) str(k string) (string, error) {
	v, ok := p.p[k]
	if !ok || v == nil {
		return "", nil
	}
	switch v := v.(type) {
	case string:
		return v, nil
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), nil
	}
	return "", errorf(ErrnoBadProperty, "%s: property %q must be a string, got %v", p.cmd, k, v)
}

func (p props) integer(k string, def int) (int, error) {
	v, ok := p.p[k]
	if !ok || v == nil {
		return def, nil
	}
	switch v := v.(type) {
	case float64:
		if v == float64(int(v)) {
			return int(v), nil
		}
	case string:
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
			return n, nil
		}
	}
	return 0, errorf(ErrnoBadProperty, "%s: property %q must be a whole number, got %v", p.cmd, k, v)
}

func (p props) boolean(k string, def bool) (bool, error) {
	v, ok := p.p[k]
	if !ok || v == nil {
		return def, nil
	}
	switch v := v.(type) {
	case bool:
		return v, nil
	case string:
		if b, err := strconv.ParseBool(v); err == nil {
			return b, nil
		}
	case float64:
		return v != 0, nil
	}
	return false, errorf(ErrnoBadProperty, "%s: property %q must be true or false, got %v", p.cmd, k, v)
}

func (p props) obj(k string) (map[string]any, error) {
	v, ok := p.p[k]
	if !ok || v == nil {
		return nil, nil
	}
	o, ok := v.(map[string]any)
	if !ok {
		return nil, errorf(ErrnoBadProperty, "%s: property %q must be an object, got %v", p.cmd, k, v)
	}
	return o, nil
}

// watcher finds the watcher named by the "name" property (required).
func (a *Arbiter) watcherProp(m *cmdMsg) (*watcher.Watcher, error) {
	name, err := m.props().str("name")
	if err != nil {
		return nil, err
	}
	if name == "" {
		return nil, errorf(ErrnoBadProperty, "%s: property \"name\" (the watcher) is required", m.req.Command)
	}
	return a.lookup(name)
}

func (a *Arbiter) lookup(name string) (*watcher.Watcher, error) {
	w, ok := a.watchers[strings.ToLower(name)]
	if !ok {
		return nil, errorf(ErrnoBadProperty, "program %s not found (known: %s)", name, strings.Join(a.names(), ", "))
	}
	return w, nil
}

// targets is the named watcher, or every watcher when name is absent.
func (a *Arbiter) targets(m *cmdMsg) ([]*watcher.Watcher, error) {
	if !m.props().has("name") {
		return a.sorted(nil), nil
	}
	w, err := a.watcherProp(m)
	if err != nil {
		return nil, err
	}
	return []*watcher.Watcher{w}, nil
}

// specs are the specs of every watcher.
func (a *Arbiter) specs() []configs.Watcher {
	out := make([]configs.Watcher, 0, len(a.watchers))
	for _, w := range a.watchers {
		out = append(out, w.Spec())
	}
	return out
}

func (a *Arbiter) names() []string {
	names := make([]string, 0, len(a.watchers))
	for _, w := range a.watchers {
		names = append(names, w.Name())
	}
	sort.Strings(names)
	return names
}

// finish answers m now, or once ws have settled when it asked for waiting.
func (a *Arbiter) finish(m *cmdMsg, ws []*watcher.Watcher, fields func() map[string]any) error {
	wait, err := m.props().boolean("waiting", false)
	if err != nil {
		return err
	}
	if fields == nil {
		fields = func() map[string]any { return nil }
	}
	if !wait {
		m.ok(fields())
		return nil
	}
	whenAllSettled(ws, func() { m.ok(fields()) })
	return nil
}

func cmdList(a *Arbiter, m *cmdMsg) error {
	if !m.props().has("name") {
		m.ok(map[string]any{"watchers": a.names()})
		return nil
	}
	w, err := a.watcherProp(m)
	if err != nil {
		return err
	}
	m.ok(map[string]any{"pids": w.Pids()})
	return nil
}

// cmdStatus answers Circus's status, plus poold's reasons (why a watcher
// is flapping or failed, and what to do) and, for one watcher, its slots.
func cmdStatus(a *Arbiter, m *cmdMsg) error {
	if !m.props().has("name") {
		st := make(map[string]any, len(a.watchers))
		reasons := map[string]any{}
		for _, w := range a.watchers {
			key := strings.ToLower(w.Name())
			st[key] = string(w.Status())
			if r := w.Reason(); r != "" {
				reasons[key] = r
			}
		}
		m.ok(map[string]any{"statuses": st, "reasons": reasons})
		return nil
	}
	w, err := a.watcherProp(m)
	if err != nil {
		return err
	}
	fields := map[string]any{"status": string(w.Status()), "slots": slotRows(w.Slots())}
	if r := w.Reason(); r != "" {
		fields["reason"] = r
	}
	m.ok(fields)
	return nil
}

// slotRows is the wire form of a watcher's slots.
func slotRows(slots []watcher.SlotInfo) []map[string]any {
	out := make([]map[string]any, 0, len(slots))
	for _, s := range slots {
		retry := 0.0
		if !s.RetryAt.IsZero() {
			retry = float64(s.RetryAt.UnixNano()) / 1e9
		}
		out = append(out, map[string]any{
			"wid": s.Wid, "state": s.State, "pid": s.Pid, "restarts": s.Restarts,
			"last_exit": s.LastExit, "retry_at": retry,
		})
	}
	return out
}

func cmdNumWatchers(a *Arbiter, m *cmdMsg) error {
	m.ok(map[string]any{"numwatchers": len(a.watchers)})
	return nil
}

func cmdNumProcesses(a *Arbiter, m *cmdMsg) error {
	ws, err := a.targets(m)
	if err != nil {
		return err
	}
	n := 0
	for _, w := range ws {
		n += len(w.Pids())
	}
	m.ok(map[string]any{"numprocesses": n})
	return nil
}

// pidDiff reports, for waiting start/stop/restart of one watcher, which
// pids were started, stopped and kept.
func pidDiff(w *watcher.Watcher) func() map[string]any {
	before := map[int]bool{}
	for _, pid := range w.Pids() {
		before[pid] = true
	}
	return func() map[string]any {
		started, stopped, kept := []int{}, []int{}, []int{}
		after := map[int]bool{}
		for _, pid := range w.Pids() {
			after[pid] = true
			if before[pid] {
				kept = append(kept, pid)
			} else {
				started = append(started, pid)
			}
		}
		for pid := range before {
			if !after[pid] {
				stopped = append(stopped, pid)
			}
		}
		sort.Ints(stopped)
		return map[string]any{"info": map[string]any{"started": started, "stopped": stopped, "kept": kept}}
	}
}

func (a *Arbiter) lifecycle(m *cmdMsg, act func(ws []*watcher.Watcher, done func())) error {
	ws, err := a.targets(m)
	if err != nil {
		return err
	}
	wait, err := m.props().boolean("waiting", false)
	if err != nil {
		return err
	}
	var fields func() map[string]any
	if len(ws) == 1 && m.props().has("name") {
		fields = pidDiff(ws[0])
	} else {
		fields = func() map[string]any { return nil }
	}
	if !wait {
		act(ws, nil)
		m.ok(nil)
		return nil
	}
	act(ws, func() { m.ok(fields()) })
	return nil
}

// cmdStart starts the named watcher after what it depends on; without a
// name, the autostart watchers (a watcher with autostart = false starts
// only when named).
func cmdStart(a *Arbiter, m *cmdMsg) error {
	return a.lifecycle(m, func(ws []*watcher.Watcher, done func()) {
		if !m.props().has("name") {
			ws = a.sorted(func(w *watcher.Watcher) bool { return w.Spec().Autostart || w.Status() != watcher.Stopped })
		}
		a.startInOrder(a.withDeps(ws), done)
	})
}

// cmdStop stops the named watcher after what depends on it.
func cmdStop(a *Arbiter, m *cmdMsg) error {
	return a.lifecycle(m, func(ws []*watcher.Watcher, done func()) {
		a.stopInOrder(a.withDependents(ws), done)
	})
}

// cmdRestart stops the named watcher and its running dependents, then
// starts it (with its dependencies) and those dependents again. Without a
// name it restarts what runs and the autostart watchers.
func cmdRestart(a *Arbiter, m *cmdMsg) error {
	return a.lifecycle(m, func(ws []*watcher.Watcher, done func()) {
		if !m.props().has("name") {
			ws = a.sorted(func(w *watcher.Watcher) bool { return w.Spec().Autostart || w.Status() != watcher.Stopped })
		}
		named := map[*watcher.Watcher]bool{}
		for _, w := range ws {
			named[w] = true
		}
		var again []*watcher.Watcher
		for _, w := range a.withDependents(ws) {
			if named[w] || w.Status() != watcher.Stopped {
				again = append(again, w)
			}
		}
		a.stopInOrder(again, func() { a.startInOrder(a.withDeps(again), done) })
	})
}

func cmdReload(a *Arbiter, m *cmdMsg) error {
	graceful, err := m.props().boolean("graceful", true)
	if err != nil {
		return err
	}
	sequential, err := m.props().boolean("sequential", false)
	if err != nil {
		return err
	}
	ws, err := a.targets(m)
	if err != nil {
		return err
	}
	wait, err := m.props().boolean("waiting", false)
	if err != nil {
		return err
	}
	for _, w := range ws {
		w.Reload(graceful, sequential)
	}
	if !wait {
		m.ok(nil)
		return nil
	}
	whenAllSettled(ws, func() {
		var errs []string
		for _, w := range ws {
			if err := w.ReloadError(); err != nil {
				errs = append(errs, err.Error())
			}
		}
		if len(errs) > 0 {
			m.fail(errorf(ErrnoAsync, "reload: %s", strings.Join(errs, "; ")))
			return
		}
		m.ok(nil)
	})
	return nil
}

func cmdIncr(a *Arbiter, m *cmdMsg) error { return a.scale(m, 1) }
func cmdDecr(a *Arbiter, m *cmdMsg) error { return a.scale(m, -1) }

func (a *Arbiter) scale(m *cmdMsg, sign int) error {
	w, err := a.watcherProp(m)
	if err != nil {
		return err
	}
	nb, err := m.props().integer("nb", 1)
	if err != nil {
		return err
	}
	if nb < 0 {
		return errorf(ErrnoBadProperty, "%s: property \"nb\" must be >= 0, got %d", m.req.Command, nb)
	}
	w.SetTarget(w.Target() + sign*nb)
	if w.Status() == watcher.Stopped && sign > 0 {
		// Circus starts a stopped watcher on incr.
		w.Start()
	}
	target := w.Target()
	return a.finish(m, []*watcher.Watcher{w}, func() map[string]any {
		return map[string]any{"numprocesses": target}
	})
}

func cmdAdd(a *Arbiter, m *cmdMsg) error {
	p := m.props()
	name, err := p.str("name")
	if err != nil {
		return err
	}
	cmd, err := p.str("cmd")
	if err != nil {
		return err
	}
	if name == "" || cmd == "" {
		return errorf(ErrnoBadProperty, "add: properties \"name\" and \"cmd\" are required")
	}
	if _, exists := a.watchers[strings.ToLower(name)]; exists {
		return errorf(ErrnoFailed, "add: watcher %q already exists; rm it first or pick another name", name)
	}
	opts, err := p.obj("options")
	if err != nil {
		return err
	}
	if args, ok := p.p["args"]; ok && args != nil {
		if opts == nil {
			opts = map[string]any{}
		}
		if s, ok := args.(string); ok {
			args = strings.Fields(s)
		}
		opts["args"] = args
	}
	start, err := p.boolean("start", false)
	if err != nil {
		return err
	}
	spec, err := configs.WatcherFromOptions(name, cmd, opts, a.cfg.Sockets)
	if err != nil {
		return errorf(ErrnoBadProperty, "add: %v", err)
	}
	if err := configs.CheckDependsOn(append(a.specs(), spec)); err != nil {
		return errorf(ErrnoBadProperty, "add: %v", err)
	}
	w, err := a.addWatcher(spec)
	if err != nil {
		return errorf(ErrnoBadProperty, "add: %v", err)
	}
	a.bus.Publish(w.Name(), events.KindAdd, nil)
	if start {
		w.Start()
	}
	return a.finish(m, []*watcher.Watcher{w}, nil)
}

func cmdRm(a *Arbiter, m *cmdMsg) error {
	w, err := a.watcherProp(m)
	if err != nil {
		return err
	}
	nostop, err := m.props().boolean("nostop", false)
	if err != nil {
		return err
	}
	if nostop {
		// The workers live on unmanaged (their exits are still reaped by
		// their Wait goroutines, and ignored); they die with poold.
		a.forget(w)
		m.ok(nil)
		return nil
	}
	w.Stop()
	wait, err := m.props().boolean("waiting", false)
	if err != nil {
		return err
	}
	w.WhenSettled(func() {
		a.forget(w)
		if wait {
			m.ok(nil)
		}
	})
	if !wait {
		m.ok(nil)
	}
	return nil
}

func (a *Arbiter) options(w *watcher.Watcher) map[string]any {
	return configs.WatcherOptions(w.Spec())
}

func cmdGet(a *Arbiter, m *cmdMsg) error {
	w, err := a.watcherProp(m)
	if err != nil {
		return err
	}
	keys, ok := m.req.Properties["keys"].([]any)
	if !ok || len(keys) == 0 {
		return errorf(ErrnoBadProperty, "get: property \"keys\" must be a non-empty list of option names")
	}
	all := a.options(w)
	out := make(map[string]any, len(keys))
	for _, k := range keys {
		ks, _ := k.(string)
		v, ok := all[ks]
		if !ok {
			return errorf(ErrnoBadProperty, "get: watcher %q has no option %v; options are: %s", w.Name(), k, strings.Join(sortedKeys(all), ", "))
		}
		out[ks] = v
	}
	m.ok(map[string]any{"options": out})
	return nil
}

func sortedKeys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func cmdSet(a *Arbiter, m *cmdMsg) error {
	w, err := a.watcherProp(m)
	if err != nil {
		return err
	}
	opts, err := m.props().obj("options")
	if err != nil {
		return err
	}
	if len(opts) == 0 {
		return errorf(ErrnoBadProperty, "set: property \"options\" must be a non-empty object of option: value")
	}
	spec, err := configs.ApplyOptions(w.Spec(), opts, a.cfg.Sockets)
	if err != nil {
		return errorf(ErrnoBadProperty, "set: %v", err)
	}
	others := []configs.Watcher{spec}
	for _, o := range a.specs() {
		if o.Name != w.Name() {
			others = append(others, o)
		}
	}
	if err := configs.CheckDependsOn(others); err != nil {
		return errorf(ErrnoBadProperty, "set: %v", err)
	}
	socks, err := a.handoff(spec, a.cfg.Sockets)
	if err != nil {
		return errorf(ErrnoBadProperty, "set: %v", err)
	}
	if err := w.Update(spec, socks); err != nil {
		return errorf(ErrnoBadProperty, "set: %v", err)
	}
	return a.finish(m, []*watcher.Watcher{w}, nil)
}

func cmdOptions(a *Arbiter, m *cmdMsg) error {
	w, err := a.watcherProp(m)
	if err != nil {
		return err
	}
	m.ok(map[string]any{"options": a.options(w)})
	return nil
}

func cmdGlobalOptions(a *Arbiter, m *cmdMsg) error {
	c := a.cfg.Arbiter
	all := map[string]any{
		"endpoint": c.Endpoint, "pubsub_endpoint": c.PubSubEndpoint, "stats_endpoint": c.StatsEndpoint,
		"stats_interval": c.StatsInterval.Seconds(), "check_delay": checkDelay.Seconds(), "allow_remote": c.AllowRemote,
		"log_level": c.LogLevel, "log_format": c.LogFormat, "numwatchers": len(a.watchers),
		"config": a.cfg.Path, "pid": os.Getpid(),
	}
	opt, err := m.props().str("option")
	if err != nil {
		return err
	}
	if opt == "" {
		m.ok(map[string]any{"options": all})
		return nil
	}
	v, ok := all[opt]
	if !ok {
		return errorf(ErrnoBadProperty, "globaloptions: no option %q; options are: %s", opt, strings.Join(sortedKeys(all), ", "))
	}
	m.ok(map[string]any{"options": map[string]any{opt: v}})
	return nil
}

// parseSignal accepts 15, "15", "TERM", "SIGTERM", "term".
func parseSignal(v any) (syscall.Signal, error) {
	switch v := v.(type) {
	case float64:
		return configs.ParseSignal(strconv.FormatFloat(v, 'f', -1, 64))
	case string:
		return configs.ParseSignal(v)
	}
	return 0, fmt.Errorf("%v is not a signal (use a name like TERM or HUP, or a number)", v)
}

func cmdSignal(a *Arbiter, m *cmdMsg) error {
	w, err := a.watcherProp(m)
	if err != nil {
		return err
	}
	p := m.props()
	if !p.has("signum") {
		return errorf(ErrnoBadProperty, "signal: property \"signum\" is required (a name like HUP or a number)")
	}
	sig, err := parseSignal(p.p["signum"])
	if err != nil {
		return errorf(ErrnoBadProperty, "signal: %v", err)
	}
	pid, err := p.integer("pid", 0)
	if err != nil {
		return err
	}
	children, err := p.boolean("children", false)
	if err != nil {
		return err
	}
	recursive, err := p.boolean("recursive", false)
	if err != nil {
		return err
	}
	pids := w.Pids()
	if pid != 0 {
		if !w.Has(pid) {
			return errorf(ErrnoBadProperty, "signal: watcher %q has no process with pid %d (its pids: %v)", w.Name(), pid, pids)
		}
		pids = []int{pid}
	}
	for _, pid := range pids {
		var err error
		switch {
		case recursive:
			err = syscall.Kill(-pid, sig)
		case children:
			for _, c := range childPids(pid) {
				_ = syscall.Kill(c, sig)
			}
		default:
			err = syscall.Kill(pid, sig)
		}
		if err != nil {
			return errorf(ErrnoOS, "signal: watcher %q pid %d: %s: %v", w.Name(), pid, configs.SignalName(sig), err)
		}
	}
	m.ok(nil)
	return nil
}

// childPids lists the direct children of pid from /proc.
func childPids(pid int) []int {
	var out []int
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, t.Name()))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

func cmdKill(a *Arbiter, m *cmdMsg) error {
	w, err := a.watcherProp(m)
	if err != nil {
		return err
	}
	p := m.props()
	sig := w.Spec().StopSignal
	if p.has("signum") {
		if sig, err = parseSignal(p.p["signum"]); err != nil {
			return errorf(ErrnoBadProperty, "kill: %v", err)
		}
	}
	grace := time.Duration(-1)
	if p.has("graceful_timeout") {
		g, ok := p.p["graceful_timeout"].(float64)
		if !ok || g < 0 {
			return errorf(ErrnoBadProperty, "kill: property \"graceful_timeout\" must be seconds >= 0")
		}
		grace = time.Duration(g * float64(time.Second))
	}
	pid, err := p.integer("pid", 0)
	if err != nil {
		return err
	}
	pids := w.Pids()
	if pid != 0 {
		pids = []int{pid}
	}
	for _, pid := range pids {
		if err := w.KillProcess(pid, sig, grace); err != nil {
			return errorf(ErrnoBadProperty, "kill: %v", err)
		}
	}
	return a.finish(m, []*watcher.Watcher{w}, nil)
}

func cmdListSockets(a *Arbiter, m *cmdMsg) error {
	var out []map[string]any
	for _, l := range a.socks.List() {
		out = append(out, l.Info(int(l.File.Fd())))
	}
	if out == nil {
		out = []map[string]any{}
	}
	m.ok(map[string]any{"sockets": out})
	return nil
}

func cmdReloadConfig(a *Arbiter, m *cmdMsg) error {
	wait, err := m.props().boolean("waiting", false)
	if err != nil {
		return err
	}
	if a.opts.Load == nil {
		return errorf(ErrnoFailed, "reloadconfig: poold was started without a config file to re-read")
	}
	if !wait {
		a.reloadConfig(a.logReload)
		m.ok(nil)
		return nil
	}
	a.reloadConfig(func(o reloadOutcome, err error) {
		a.logReload(o, err)
		switch {
		case err != nil:
			m.fail(errorf(ErrnoAsync, "reloadconfig: %v", err))
		case o.err() != nil:
			m.failWith(errorf(ErrnoAsync, "reloadconfig: %v", o.err()), o.fields())
		default:
			m.ok(o.fields())
		}
	})
	return nil
}

func cmdQuit(a *Arbiter, m *cmdMsg) error {
	m.ok(nil)
	a.quitO.Do(func() { close(a.quit) })
	return nil
}
