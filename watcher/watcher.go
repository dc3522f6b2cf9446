// Package watcher runs one named pool of identical worker processes: its
// spec, its process records, its state machine and its restart policy.
//
// Concurrency: a Watcher has no lock and no goroutine of its own. The
// arbiter's event loop owns it and is the only caller of its methods; the
// watcher acts on the world only through the Host the loop gives it
// (spawning, signalling, timers, events), which is what lets tests drive
// it with a fake host and an injected clock.
//
// Watcher status:
//
//	          Start                 all spawned
//	stopped ─────────▶ starting ───────────────▶ active
//	   ▲                                           │ Stop
//	   │          last process reaped              ▼
//	   └──────────────────────────────────────── stopping
//
// Process state: running ──(retire: stop signal, grace timer)──▶ stopping
// ──(reaped, or SIGKILL of its group at the deadline, then reaped)──▶ gone.
package watcher

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/poold/poold/configs"
)

// Status is a watcher's state as the control protocol reports it.
type Status string

// Watcher statuses.
const (
	Stopped  Status = "stopped"
	Starting Status = "starting"
	Active   Status = "active"
	Stopping Status = "stopping"
)

// Process states.
const (
	ProcRunning  = "running"
	ProcStopping = "stopping"
)

// Host is what the arbiter's loop lends a watcher to act on the world.
type Host interface {
	Now() time.Time
	// Spawn starts a worker; the host arranges for its exit to come back
	// through Watcher.Exited and for its output to be logged.
	Spawn(watcher string, wid int, spec ProcSpec) (pid int, err error)
	// Signal sends sig to the process group led by pid.
	Signal(pid int, sig syscall.Signal) error
	// After delivers t to Watcher.Fire after d, on the loop.
	After(d time.Duration, t Timer)
	// Publish emits a lifecycle event for watcher.
	Publish(watcher, kind string, fields map[string]any)
}

// Timer is a deferred action for a watcher. Gen ties it to the state that
// armed it: a timer whose generation no longer matches is stale and ignored.
type Timer struct {
	Watcher string
	Kind    TimerKind
	Pid     int
	Wid     int
	Gen     uint64
}

// TimerKind says what a Timer does when it fires.
type TimerKind int

// Timer kinds.
const (
	TimerKill    TimerKind = iota + 1 // grace period over: SIGKILL the group
	TimerRespawn                      // backoff over: start the slot again
)

// Sockets are the listening sockets a watcher's workers inherit.
type Sockets struct {
	Files []*os.File     // at fds 3, 4, ...
	Env   []string       // LISTEN_FDS, LISTEN_FDNAMES
	FDs   map[string]int // name -> fd, for $(pool.sockets.NAME)
}

// Process is one worker as the watcher knows it.
type Process struct {
	Pid      int
	Wid      int
	State    string
	Started  time.Time
	Restarts int // how many times this slot was started again after a death
	Gen      int // the spec generation it was started with

	killGen uint64
}

// Watcher is one pool.
type Watcher struct {
	spec    configs.Watcher
	socks   Sockets
	host    Host
	log     hclog.Logger
	backoff Backoff
	cred    *syscall.Credential

	status   Status
	specGen  int              // bumped by Reload: older processes are replaced
	procs    map[int]*Process // by pid
	pending  map[int]uint64   // wid -> respawn timer generation
	failures map[int]int      // wid -> consecutive quick failures
	restarts map[int]int      // wid -> restarts
	dead     map[int]bool     // respawn=false: slots that died stay empty
	gen      uint64
	waiters  []func()

	lastSpawnErr error
}

// New builds a watcher from its spec. It checks what can only be checked on
// this machine (user and group) and does nothing else.
func New(spec configs.Watcher, socks Sockets, host Host, log hclog.Logger) (*Watcher, error) {
	w := &Watcher{
		host:     host,
		log:      log.With("watcher", spec.Name),
		status:   Stopped,
		procs:    make(map[int]*Process),
		pending:  make(map[int]uint64),
		failures: make(map[int]int),
		restarts: make(map[int]int),
		dead:     make(map[int]bool),
	}
	if err := w.setSpec(spec, socks); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *Watcher) setSpec(spec configs.Watcher, socks Sockets) error {
	cred, err := spec.Credential()
	if err != nil {
		return err
	}
	w.spec, w.socks, w.cred = spec, socks, cred
	w.backoff = Backoff{Min: spec.BackoffMin, Max: spec.BackoffMax, Reset: spec.BackoffReset, Jitter: 0.1}
	return nil
}

// Name is the watcher's configured name.
func (w *Watcher) Name() string { return w.spec.Name }

// Spec is the watcher's current configuration.
func (w *Watcher) Spec() configs.Watcher { return w.spec }

// Status is the watcher's current status.
func (w *Watcher) Status() Status { return w.status }

// Target is the number of workers the watcher keeps.
func (w *Watcher) Target() int { return w.spec.NumProcesses }

// Processes returns the live processes sorted by wid, then pid.
func (w *Watcher) Processes() []Process {
	out := make([]Process, 0, len(w.procs))
	for _, p := range w.procs {
		out = append(out, *p)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Wid != out[j].Wid {
			return out[i].Wid < out[j].Wid
		}
		return out[i].Pid < out[j].Pid
	})
	return out
}

// Pids returns the pids of live processes, sorted.
func (w *Watcher) Pids() []int {
	pids := make([]int, 0, len(w.procs))
	for pid := range w.procs {
		pids = append(pids, pid)
	}
	sort.Ints(pids)
	return pids
}

// Has reports whether pid is one of this watcher's live processes.
func (w *Watcher) Has(pid int) bool { _, ok := w.procs[pid]; return ok }

// Settled reports whether nothing is in flight: a stopped watcher has no
// process; an active one has exactly its target of current processes
// (counting slots waiting out a backoff) and nothing stopping.
func (w *Watcher) Settled() bool {
	switch w.status {
	case Stopped:
		return len(w.procs) == 0
	case Active, Starting:
		cur := 0
		for _, p := range w.procs {
			if p.State != ProcRunning || p.Gen != w.specGen {
				return false
			}
			cur++
		}
		return cur+len(w.pending)+len(w.dead) == w.spec.NumProcesses
	}
	return false
}

// WhenSettled calls fn (on the loop) once the watcher is settled, at once
// if it already is.
func (w *Watcher) WhenSettled(fn func()) {
	w.waiters = append(w.waiters, fn)
	w.fireWaiters()
}

func (w *Watcher) fireWaiters() {
	if len(w.waiters) == 0 || !w.Settled() {
		return
	}
	ws := w.waiters
	w.waiters = nil
	for _, fn := range ws {
		fn()
	}
}

// Start starts the workers of a stopped watcher.
func (w *Watcher) Start() {
	if w.status == Active || w.status == Starting {
		w.fireWaiters()
		return
	}
	w.status = Starting
	w.dead = make(map[int]bool)
	w.host.Publish(w.spec.Name, "start", nil)
	w.reconcile()
}

// Stop gracefully stops every worker: stop signal to each process group,
// then SIGKILL at the graceful timeout.
func (w *Watcher) Stop() {
	if w.status == Stopped && len(w.procs) == 0 {
		w.fireWaiters()
		return
	}
	w.status = Stopping
	w.pending = make(map[int]uint64)
	for _, p := range w.procs {
		w.retire(p)
	}
	w.finishStop()
}

// Kill sends SIGKILL to every worker's process group at once (second
// SIGTERM to poold, or the kill command without grace).
func (w *Watcher) Kill() {
	w.status = Stopping
	w.pending = make(map[int]uint64)
	for _, p := range w.procs {
		p.State = ProcStopping
		w.signal(p, syscall.SIGKILL)
	}
	w.finishStop()
}

func (w *Watcher) finishStop() {
	if w.status == Stopping && len(w.procs) == 0 {
		w.status = Stopped
		w.host.Publish(w.spec.Name, "stop", nil)
	}
	w.fireWaiters()
}

// SetTarget changes the number of workers; extra ones are retired
// gracefully, highest wid first.
func (w *Watcher) SetTarget(n int) {
	if n < 0 {
		n = 0
	}
	w.spec.NumProcesses = n
	for wid := range w.dead {
		if wid > n {
			delete(w.dead, wid)
		}
	}
	w.reconcile()
}

// Reload replaces every worker. Graceful: new workers first, then the old
// ones retire (a rolling replacement). Not graceful: stop all, then start.
func (w *Watcher) Reload(graceful bool) {
	w.host.Publish(w.spec.Name, "reload", nil)
	if w.status != Active && w.status != Starting {
		w.Start()
		return
	}
	if !graceful {
		w.Stop()
		w.WhenSettled(w.Start)
		return
	}
	w.specGen++
	w.reconcile()
}

// Update replaces the spec (config reload, set). A change of the number of
// processes alone scales; any other change that affects how workers are
// started rolls them over gracefully when the watcher runs.
func (w *Watcher) Update(spec configs.Watcher, socks Sockets) error {
	old, oldSocks := w.spec, w.socks
	if err := w.setSpec(spec, socks); err != nil {
		return err
	}
	w.host.Publish(w.spec.Name, "updated", nil)
	old.NumProcesses = spec.NumProcesses
	if w.status == Active || w.status == Starting {
		if !sameStartup(old, spec) || !SameFiles(oldSocks.Files, socks.Files) {
			w.specGen++
		}
	}
	w.reconcile()
	return nil
}

// Sockets are the sockets the workers inherit.
func (w *Watcher) Sockets() Sockets { return w.socks }

// SameFiles reports whether two socket handoffs pass the very same files.
func SameFiles(a, b []*os.File) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// sameStartup reports whether two specs start workers identically.
func sameStartup(a, b configs.Watcher) bool {
	return fmt.Sprintf("%v", startupKey(a)) == fmt.Sprintf("%v", startupKey(b))
}

func startupKey(s configs.Watcher) []any {
	return []any{s.Cmd, s.Args, s.Env, s.CopyEnv, s.WorkingDir, s.UID, s.GID, s.Umask, s.Rlimits, s.Sockets, s.UseSockets}
}

// Exited is called by the loop when a worker's process has been reaped.
// exitCode is the exit status, or minus the signal number that killed it.
func (w *Watcher) Exited(pid, exitCode int) {
	p, ok := w.procs[pid]
	if !ok {
		return
	}
	delete(w.procs, pid)
	w.host.Publish(w.spec.Name, "reap", map[string]any{
		"process_pid": pid, "process_id": p.Wid, "exit_code": exitCode,
	})
	log := w.log.With("pid", pid, "wid", p.Wid, "exit_code", exitCode)
	if p.State == ProcStopping || w.status == Stopping || w.status == Stopped {
		log.Debug("worker stopped")
		w.finishStop()
		w.reconcile()
		return
	}
	uptime := w.host.Now().Sub(p.Started)
	w.failures[p.Wid] = w.backoff.Failures(w.failures[p.Wid], uptime)
	if !w.spec.Respawn {
		log.Warn("worker exited; respawn is off, its slot stays empty", "uptime", uptime)
		w.dead[p.Wid] = true
		w.fireWaiters()
		return
	}
	w.restarts[p.Wid]++
	delay := w.backoff.Delay(w.failures[p.Wid])
	if delay > 0 && p.Gen == w.specGen {
		log.Warn("worker exited soon after start; restarting after a delay",
			"uptime", uptime, "delay", delay, "failures", w.failures[p.Wid])
		w.gen++
		w.pending[p.Wid] = w.gen
		w.host.After(delay, Timer{Watcher: w.spec.Name, Kind: TimerRespawn, Wid: p.Wid, Gen: w.gen})
		w.host.Publish(w.spec.Name, "backoff", map[string]any{
			"process_id": p.Wid, "delay": delay.Seconds(), "failures": w.failures[p.Wid],
		})
		w.fireWaiters()
		return
	}
	log.Warn("worker exited; restarting", "uptime", uptime)
	w.reconcile()
}

// Fire handles a timer armed by this watcher.
func (w *Watcher) Fire(t Timer) {
	switch t.Kind {
	case TimerKill:
		p, ok := w.procs[t.Pid]
		if !ok || p.killGen != t.Gen {
			return
		}
		w.log.Warn("worker did not stop within graceful_timeout; killing its process group",
			"pid", p.Pid, "wid", p.Wid, "graceful_timeout", w.spec.GracefulTimeout)
		w.signal(p, syscall.SIGKILL)
	case TimerRespawn:
		if g, ok := w.pending[t.Wid]; !ok || g != t.Gen {
			return
		}
		delete(w.pending, t.Wid)
		w.reconcile()
	}
}

// Signal sends sig to one worker's process group, or to all when pid is 0.
func (w *Watcher) Signal(pid int, sig syscall.Signal) error {
	if pid != 0 {
		p, ok := w.procs[pid]
		if !ok {
			return fmt.Errorf("watcher %q has no process with pid %d", w.spec.Name, pid)
		}
		return w.host.Signal(p.Pid, sig)
	}
	var first error
	for _, p := range w.procs {
		if err := w.host.Signal(p.Pid, sig); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// KillProcess stops one worker gracefully (grace < 0: configured timeout;
// 0: SIGKILL at once). It is replaced like any worker that died.
func (w *Watcher) KillProcess(pid int, sig syscall.Signal, grace time.Duration) error {
	p, ok := w.procs[pid]
	if !ok {
		return fmt.Errorf("watcher %q has no process with pid %d", w.spec.Name, pid)
	}
	if grace == 0 {
		w.signal(p, syscall.SIGKILL)
		return nil
	}
	if grace < 0 {
		grace = w.spec.GracefulTimeout
	}
	w.signal(p, sig)
	w.armKill(p, grace)
	return nil
}

// reconcile brings the pool towards its target: spawn missing slots,
// retire extra or outdated workers. Outdated ones (from before a reload)
// retire only as new ones come up, so capacity never drops.
func (w *Watcher) reconcile() {
	defer w.fireWaiters()
	if w.status != Active && w.status != Starting {
		return
	}
	target := w.spec.NumProcesses
	var cur, old []*Process
	used := make(map[int]bool)
	for _, p := range w.procs {
		if p.State != ProcRunning {
			continue
		}
		if p.Gen == w.specGen {
			cur = append(cur, p)
			used[p.Wid] = true
		} else {
			old = append(old, p)
		}
	}
	for wid := range w.pending {
		used[wid] = true
	}
	for wid := range w.dead {
		used[wid] = true
	}
	// Too many current workers: retire the highest slots, pending ones first.
	for wid := range w.pending {
		if len(cur)+len(w.pending) > target && wid > target {
			delete(w.pending, wid)
		}
	}
	sort.Slice(cur, func(i, j int) bool { return cur[i].Wid > cur[j].Wid })
	for len(cur)+len(w.pending)+len(w.dead) > target && len(cur) > 0 {
		w.retire(cur[0])
		cur = cur[1:]
	}
	// Spawn missing slots, lowest free wid first, while old workers still
	// hold the fort; then retire as many old workers as new ones came up.
	for wid := 1; len(cur)+len(w.pending)+len(w.dead) < target; wid++ {
		if used[wid] {
			continue
		}
		used[wid] = true
		if p := w.spawn(wid); p != nil {
			cur = append(cur, p)
		}
	}
	sort.Slice(old, func(i, j int) bool { return old[i].Wid > old[j].Wid })
	for len(old) > 0 && len(old)+len(cur) > target {
		w.retire(old[0])
		old = old[1:]
	}
	if w.status == Starting && len(cur) == target {
		w.status = Active
	}
}

func (w *Watcher) spawn(wid int) *Process {
	spec, err := w.procSpec(wid)
	var pid int
	if err == nil {
		pid, err = w.host.Spawn(w.spec.Name, wid, spec)
	}
	if err != nil {
		w.lastSpawnErr = err
		w.failures[wid]++
		delay := w.backoff.Delay(w.failures[wid])
		w.log.Error("cannot start worker; retrying after a delay", "wid", wid, "error", err, "delay", delay)
		w.gen++
		w.pending[wid] = w.gen
		w.host.After(delay, Timer{Watcher: w.spec.Name, Kind: TimerRespawn, Wid: wid, Gen: w.gen})
		w.host.Publish(w.spec.Name, "spawn_error", map[string]any{"process_id": wid, "reason": err.Error(), "delay": delay.Seconds()})
		return nil
	}
	w.lastSpawnErr = nil
	p := &Process{Pid: pid, Wid: wid, State: ProcRunning, Started: w.host.Now(), Gen: w.specGen, Restarts: w.restarts[wid]}
	w.procs[pid] = p
	w.host.Publish(w.spec.Name, "spawn", map[string]any{"process_pid": pid, "process_id": wid})
	return p
}

// LastSpawnError is the last error from starting a worker, nil after a
// success.
func (w *Watcher) LastSpawnError() error { return w.lastSpawnErr }

func (w *Watcher) retire(p *Process) {
	if p.State == ProcStopping {
		return
	}
	p.State = ProcStopping
	w.signal(p, w.spec.StopSignal)
	w.armKill(p, w.spec.GracefulTimeout)
}

func (w *Watcher) armKill(p *Process, grace time.Duration) {
	w.gen++
	p.killGen = w.gen
	w.host.After(grace, Timer{Watcher: w.spec.Name, Kind: TimerKill, Pid: p.Pid, Wid: p.Wid, Gen: w.gen})
}

func (w *Watcher) signal(p *Process, sig syscall.Signal) {
	if err := w.host.Signal(p.Pid, sig); err != nil {
		w.log.Debug("signal failed", "pid", p.Pid, "signal", sig, "error", err)
		return
	}
	w.host.Publish(w.spec.Name, "kill", map[string]any{"process_pid": p.Pid, "process_id": p.Wid, "signal": int(sig)})
}

// procSpec builds the exec request for slot wid.
func (w *Watcher) procSpec(wid int) (ProcSpec, error) {
	s := w.spec
	dir := s.WorkingDir
	if dir == "" {
		var err error
		if dir, err = os.Getwd(); err != nil {
			return ProcSpec{}, err
		}
	}
	env := baseEnv(s.CopyEnv)
	vars := map[string]string{
		"wid": strconv.Itoa(wid), "name": s.Name, "working_dir": dir, "uid": s.UID,
	}
	for name, fd := range w.socks.FDs {
		vars["sockets."+name] = strconv.Itoa(fd)
	}
	for _, kv := range s.Env {
		k, _, _ := strings.Cut(kv, "=")
		env = setEnv(env, k, kv)
	}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		vars["env."+k] = v
	}
	for i, kv := range env {
		env[i] = configs.Expand(kv, vars)
	}
	listen := len(w.socks.Files) > 0 && !passesFDs(s)
	if listen {
		env = append(env, w.socks.Env...)
	}
	env = append(env, "POOLD_WID="+strconv.Itoa(wid), "POOLD_WATCHER="+s.Name)

	argv := splitCmd(configs.Expand(s.Cmd, vars))
	if len(argv) == 0 {
		return ProcSpec{}, fmt.Errorf("cmd is empty")
	}
	for _, a := range s.Args {
		argv = append(argv, configs.Expand(a, vars))
	}
	path, err := resolve(argv[0], dir, env)
	if err != nil {
		return ProcSpec{}, err
	}
	rl := make(map[int]uint64, len(s.Rlimits))
	for name, v := range s.Rlimits {
		if res, ok := configs.RlimitResource(name); ok {
			rl[res] = v
		}
	}
	return ProcSpec{
		Path: path, Argv: argv, Env: env, Dir: dir, Files: w.socks.Files,
		Credential: w.cred, Umask: s.Umask, Rlimits: rl, Listen: listen,
	}, nil
}

var socketVar = regexp.MustCompile(`(\$\(|\(\()(pool|circus)\.sockets\.`)

// passesFDs reports whether cmd or args hand the worker its sockets' fd
// numbers explicitly ($(pool.sockets.NAME), as in gunicorn's
// --bind fd://...). Such a worker is not also given LISTEN_FDS: gunicorn
// would adopt the same fd twice and fail with "Bad file descriptor".
func passesFDs(s configs.Watcher) bool {
	if socketVar.MatchString(s.Cmd) {
		return true
	}
	for _, a := range s.Args {
		if socketVar.MatchString(a) {
			return true
		}
	}
	return false
}

const defaultPath = "/usr/local/bin:/usr/bin:/bin"

// baseEnv is poold's environment with copy_env, else PATH alone (so that
// commands are found as in a login shell).
func baseEnv(copyEnv bool) []string {
	if copyEnv {
		var env []string
		for _, kv := range os.Environ() {
			if strings.HasPrefix(kv, "LISTEN_") || strings.HasPrefix(kv, "NOTIFY_SOCKET=") {
				continue
			}
			env = append(env, kv)
		}
		return env
	}
	p := os.Getenv("PATH")
	if p == "" {
		p = defaultPath
	}
	return []string{"PATH=" + p}
}

func setEnv(env []string, key, kv string) []string {
	for i, e := range env {
		if strings.HasPrefix(e, key+"=") {
			env[i] = kv
			return env
		}
	}
	return append(env, kv)
}

// resolve finds the executable: a name with a slash is taken relative to
// the working directory, a bare name is looked up in the worker's PATH.
func resolve(name, dir string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		if !filepath.IsAbs(name) {
			name = filepath.Join(dir, name)
		}
		if err := executable(name); err != nil {
			return "", err
		}
		return name, nil
	}
	pathVar := defaultPath
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			pathVar = v
		}
	}
	for _, d := range filepath.SplitList(pathVar) {
		if d == "" {
			d = "."
		}
		if !filepath.IsAbs(d) {
			d = filepath.Join(dir, d)
		}
		cand := filepath.Join(d, name)
		if executable(cand) == nil {
			return cand, nil
		}
	}
	return "", fmt.Errorf("command %q not found in PATH %q (give a full path or set PATH in env)", name, pathVar)
}

func executable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("command %s: %w", path, err)
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return fmt.Errorf("command %s is not an executable file", path)
	}
	return nil
}

// splitCmd splits a command line on blanks, honouring single and double
// quotes and backslash escapes (no other shell syntax).
func splitCmd(s string) []string {
	var out []string
	var cur strings.Builder
	in := false
	var quote rune
	esc := false
	for _, r := range s {
		switch {
		case esc:
			cur.WriteRune(r)
			esc = false
		case r == '\\' && quote != '\'':
			esc = true
			in = true
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote = r
			in = true
		case r == ' ' || r == '\t' || r == '\n':
			if in {
				out = append(out, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if in {
		out = append(out, cur.String())
	}
	return out
}

// CheckSpec checks what New would check of spec on this machine (user and
// group), so a config reload can refuse a bad config before changing
// anything.
func CheckSpec(spec configs.Watcher) error {
	if _, err := spec.Credential(); err != nil {
		return err
	}
	return nil
}
