package arbiter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"syscall"
	"time"

	"github.com/poold/poold/arbiter/upgrade"
	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/spawn"
	"golang.org/x/sys/unix"
)

// In-place upgrade, the old image's side: the upgrade command (and
// SIGUSR2) runs the pre-flight off the loop, then, on the loop, freezes
// everything (the loop blocks in the exec: no spawn, no kill, no timer
// acts), hands the state and fds over and execs the new binary from the
// spawner's thread. See arbiter/upgrade for the state, adopt.go for the
// new image's side.

// Upgrader is what cmd/poold gives the arbiter to upgrade it in place.
type Upgrader struct {
	Version string // this binary's version
	// Exe is the binary to exec: the path poold was started from, read
	// again from disk. Argv and Env are the new image's.
	Exe  string
	Argv []string
	Env  []string
	// Preflight checks the binary at Exe against the config and the
	// state (its JSON), changing nothing; it returns the new version, or
	// an error saying why the binary cannot take over. It bounds its own
	// runs of the binary and stops them when ctx ends (poold stops),
	// and logs a check it runs ("upgrade: checking the new binary"):
	// a result it kept from the last one runs nothing.
	Preflight func(ctx context.Context, state []byte) (newVersion string, err error)
	// Begin runs on the loop as the exec step begins: the loop is
	// blocked from then until the exec, or until end runs (the exec did
	// not happen, the loop serves again). What answers without the loop
	// (poold's HTTP probes and scrapes) does so from here on.
	Begin func() (end func())
	// Drain lets poold's own log lines reach stderr before the exec,
	// and stops its HTTP listeners taking connections; Undrain undoes
	// that when the exec did not happen.
	Drain, Undrain func()
	// Listeners lists poold's own listening fds (control, event and
	// stats endpoints, console, metrics) by address, for the new image
	// to take over instead of binding: no connect is refused meanwhile.
	Listeners func() map[string]int
	// Bind binds, on the loop just before the exec, what the new image
	// would have to bind of its own listeners for cfg (the config it
	// takes over) and no live one holds: a [web] address a reload
	// changed. Listeners then lists those too. An error refuses the
	// upgrade, nothing changed: the new image could not bind it either,
	// after it took the workers over. unbind closes them when the exec
	// did not happen.
	Bind func(cfg *configs.Config) (unbind func(), err error)
	// Explain, when set, words Bind's error for the user (who holds the
	// port: a walk of /proc, seconds on a loaded host); it runs off the
	// loop, and the refusal is answered once it returns.
	Explain func(error) error
	// Peers counts the peers connected to each of those listeners, by
	// the same keys: the new image's event and stats streams wait (a
	// little) for that many subscribers before they publish.
	Peers func() map[string]int64
	// Hold holds poold's control endpoints at the start of the exec
	// step: they accept no connection (those wait for the new image).
	// quiet reports whether every request they took is answered, its
	// reply written, and nothing came or went for a moment; release ends
	// the hold (the exec failed); frozen: the endpoints' open
	// connections are frozen for the new image to take over (Conns).
	// See upgradectl.go.
	Hold func() (quiet func() bool, release func(), frozen bool)
	// Conns, when the next image takes the open control connections
	// over (its pre-flight said so; Hold then froze them), lists them
	// for the state once the endpoint is quiet; seal runs just before
	// the exec, cancel when it did not happen. Nil conns: none.
	Conns func() (conns []upgrade.Conn, seal, cancel func())
	// Waiting says what a held endpoint that is not quiet waits for
	// (connections in the middle of a message, replies not written,
	// requests not answered), for the log; nil: nothing said.
	Waiting func() string
	// Casts reports whether the next image runs the casts that reach
	// the loop during the hand-over (State.Casts); otherwise they are
	// dropped, as before, and the log says how many.
	Casts func() bool
	// Checked, when set, gives the file to exec in place of Exe: the one
	// the last Preflight checked, kept open, or why it cannot be (changed
	// since); path names it as the exec begins (its path while that holds
	// it, else one such as /proc/self/fd/N); done runs once the exec
	// failed or was not tried (the upgrade is over).
	Checked func() (path func() string, done func(), err error)
	// CookieKey gives the key the console signs its cookies with (web)
	// in force at the exec (a change of [web] token draws a new one):
	// the new image keeps it (CookieKeyHandedOver), so a browser signed
	// in stays signed in. It goes only into the exec's state, not the
	// pre-flight's.
	CookieKey func() []byte
	// StartOwed reports whether poold's service manager still waits for
	// its first READY=1 (sd_notify): the new image then sends it once
	// every watcher is ready, as at a start, rather than once it took
	// over (StartOwedHandedOver). Nil: not run under one.
	StartOwed func() bool
}

// lastLogsGrace bounds the wait for the log lines of the exec step to
// reach stderr (a stderr that does not drain costs them, not the exec).
const lastLogsGrace = 100 * time.Millisecond

func init() {
	commands["upgrade"] = cmdUpgrade
	commands["upgrade_status"] = cmdUpgradeStatus
}

// Upgrade is SIGUSR2: the upgrade command, logged once it is under way
// (cmdUpgrade), or its refusal. One that
// came during an upgrade is refused, as gunicorn and nginx ignore a
// second USR2 while one is in flight and tableflip refuses it: in the
// old image by cmdUpgrade (or, handing over, as a command not run), and
// in the new one, which caught it before it served (its loop not up
// yet), here: it asked for the upgrade that brought this image, not for
// another exec of the same binary.
func (a *Arbiter) Upgrade() {
	if a.opts.Adopt != nil {
		select {
		case <-a.up:
		default:
			a.log.Warn("upgrade: a SIGUSR2 that came during the upgrade refused: that upgrade is done (poolctl upgrade --status); send it again for another")
			return
		}
	}
	m := &cmdMsg{req: Request{Command: "upgrade"}, bySignal: true, reply: make(chan answer, 1)}
	if !a.post(m) {
		return
	}
	a.bg.Add(1)
	go func() {
		defer a.bg.Done()
		select {
		case ans := <-m.reply:
			if ans.reply["status"] != "ok" {
				a.log.Error("SIGUSR2: upgrade refused", "reason", ans.reply["reason"])
			}
		case <-a.stopped:
		}
	}()
}

// cmdUpgradeStatus reports the last upgrade: the new image answers it
// once it has taken over (poolctl upgrade polls it).
func cmdUpgradeStatus(a *Arbiter, m *cmdMsg) error {
	m.ok(map[string]any{"upgrade": a.upgradeStatus()})
	return nil
}

// upgradeStatus is the last upgrade's outcome, "none" before the first.
func (a *Arbiter) upgradeStatus() upgrade.Outcome {
	u := a.upgraded
	if u.ID == 0 && u.State == "" {
		u.State = "none"
	}
	return u
}

func cmdUpgrade(a *Arbiter, m *cmdMsg) error {
	u := a.opts.Upgrade
	switch {
	case u == nil:
		return errorf(ErrnoFailed, "upgrade: this poold cannot re-execute itself (it runs inside another program); restart it instead")
	case a.upgrading:
		return errorf(ErrnoFailed, "upgrade: an upgrade is already in flight; wait for it (poolctl upgrade waits)")
	}
	a.upgraded = upgrade.Outcome{ID: a.upgraded.ID + 1, State: "upgrading", OldVersion: u.Version, NewVersion: u.Version, Pid: os.Getpid(), Began: time.Now()}
	if a.stopping {
		a.upgraded.State, a.upgraded.Reason = "refused", "poold is stopping"
		return errorf(ErrnoFailed, "upgrade refused: poold is stopping")
	}
	if err := a.unmanagedBlock(); err != nil {
		a.upgraded.State, a.upgraded.Reason = "refused", err.Error()
		return errorf(ErrnoFailed, "upgrade refused, nothing changed: %v", err)
	}
	a.upgrading = true
	if m.bySignal { // logged once it is under way, not before a refusal
		a.log.Info("SIGUSR2: upgrading poold in place", "binary", u.Exe)
	}
	a.settleBy, a.settleSaid, a.settleLogged = time.Now().Add(settleWait), time.Time{}, ""
	a.whenSettled(m, func() { a.preflight(m) })
	return nil
}

// preflight encodes the state and checks the new binary against it, off
// the loop; execUpgrade goes on with the outcome.
func (a *Arbiter) preflight(m *cmdMsg) {
	raw, err := json.Marshal(a.state(time.Now()))
	if err != nil {
		a.refuse(m, fmt.Errorf("encode the state: %w", err))
		return
	}
	a.bg.Add(1)
	go func() {
		defer a.bg.Done()
		newVer, err := a.runPreflight(raw)
		a.post(execMsg{m, newVer, err})
	}()
}

// preflightPids is what a run of the new binary in the pre-flight may
// take from poold's pids limits: its process and the Go runtime's
// threads.
const preflightPids = 12

// runPreflight runs the upgrade's pre-flight; off the loop. The runs of
// the new binary take pids from poold's limits, a Go runtime's threads
// each: as a worker's spawn, it is refused, not forked, where that would
// eat into the pids poold keeps for its own threads (whose lack aborts
// it).
func (a *Arbiter) runPreflight(state []byte) (string, error) {
	u := a.opts.Upgrade
	if why := spawn.PidsShort(preflightPids); why != "" {
		return "", fmt.Errorf("pre-flight %s: fork: %w (%s)", u.Exe, syscall.EAGAIN, why)
	}
	newVer, err := u.Preflight(a.runCtx, state) // ends when poold stops
	if errors.Is(err, syscall.EAGAIN) {
		if why := spawn.PidsLimitReached(); why != "" {
			err = fmt.Errorf("%w (%s)", err, why) // as a worker's spawn says it
		}
	}
	return newVer, err
}

// execUpgrade runs on the loop once the pre-flight is done. It answers
// "upgrading" and execs; it returns only when the exec failed.
func (a *Arbiter) execUpgrade(m *cmdMsg, newVer string, err error) {
	if err == nil {
		err = a.unmanagedBlock() // an rm --nostop during the pre-flight
	}
	if err != nil {
		a.refuse(m, err)
		return
	}
	if !a.holdReapsIfSettled() {
		// The loop served others during the pre-flight: wait, then check
		// again, since the binary or the config may change meanwhile (a
		// package install) and the exec would take them unchecked.
		a.whenSettled(m, func() { a.preflight(m) })
		return
	}
	defer a.spawner.ReleaseReaps() // the exec failed
	u := a.opts.Upgrade
	// From here the loop is blocked until the exec (binding ahead, the
	// wait for the log readers, the hold of the control endpoints, the
	// state): a probe must not wait on it. Not before the looks above:
	// an upgrade that goes back to wait would fail the API commands in
	// flight ("not run") for an exec that does not come yet.
	if u.Begin != nil {
		defer u.Begin()()
	}
	if u.Bind != nil {
		unbind, err := u.Bind(a.cfg)
		if err != nil {
			a.refuseExplained(m, err)
			return
		}
		defer unbind()
	}
	a.upgraded.NewVersion, a.upgraded.Reason, a.upgraded.HandOver = newVer, "", time.Now()
	m.ok(map[string]any{"upgrade": a.upgraded})
	a.log.Info("upgrade: re-executing poold", "path", u.Exe, "old_version", u.Version, "new_version", newVer)
	err = a.handOver() // RELOADING=1 is sent by u.Drain, just before the exec
	a.upgrading = false
	a.upgraded.State, a.upgraded.NewVersion, a.upgraded.Reason = "refused", u.Version, err.Error()
	if a.stopAsked() {
		a.log.Warn("upgrade not done: poold stops", "reason", err)
	} else {
		a.log.Error("upgrade failed; poold goes on as it was", "error", err)
	}
	if a.opts.Lifecycle != nil { // READY=1 again (after another RELOADING=1)
		a.opts.Lifecycle.ReloadBegan()
		a.opts.Lifecycle.ReloadEnded(err)
	}
	a.replayHeld()
}

// errStopDuringUpgrade is handOver's answer to a stop asked during it.
var errStopDuringUpgrade = errors.New("poold was asked to stop (SIGTERM, SIGINT) during the upgrade: it stops instead of re-executing")

// handOver stops the output readers, writes the state and execs. It
// returns only if that failed, with every reader running again.
func (a *Arbiter) handOver() error {
	u := a.opts.Upgrade
	hold := a.holdControl()
	defer hold.release()
	err := a.output.detachAll()
	defer a.output.resumeAll()
	if err != nil {
		return err
	}
	if u.Drain != nil {
		u.Drain()
		if u.Undrain != nil {
			defer u.Undrain()
		}
	}
	// The wait for the log readers can be long (a slow disk): a stop
	// asked meanwhile is done by this image, not lost in the exec.
	if a.stopAsked() {
		return errStopDuringUpgrade
	}
	st, cancel := a.execState(hold)
	defer cancel()
	a.answerTaken(hold) // what was posted while the state was taken
	st.Casts = hold.casts
	for _, fd := range st.FDs() {
		if err := spawn.ClearCloexec(fd); err != nil {
			return fmt.Errorf("upgrade: keep fds open across the exec: %w", err)
		}
	}
	defer func() {
		for _, fd := range st.FDs() {
			unix.CloseOnExec(fd)
		}
	}()
	f, err := upgrade.Write(st)
	if err != nil {
		return err
	}
	defer f.Close()
	// The old binary, for a rollback: /proc/self/exe still reads it when
	// its path holds the new one.
	old, err := unix.Open("/proc/self/exe", unix.O_RDONLY, 0)
	if err != nil {
		return fmt.Errorf("upgrade: open poold's own binary for a rollback: %w", err)
	}
	defer unix.Close(old)
	env := append(append([]string{}, u.Env...), fmt.Sprintf("%s=%d,%d", upgrade.EnvFDs, f.Fd(), old))
	path := func() string { return u.Exe }
	if u.Checked != nil { // the very file the pre-flight checked
		var done func()
		path, done, err = u.Checked()
		defer done()
		if err != nil {
			return err
		}
	}
	hold.seal()
	if a.opts.Logs != nil {
		// What the hold logged after Drain (what it waited for, the casts
		// it kept), before the exec drops the queue.
		a.opts.Logs.Drain(lastLogsGrace)
	}
	// Last, a stop asked since the look above (writing the state and
	// draining the logs take a while): one taken by this image's signal
	// handler after this look would be lost in the exec, the new image
	// running on as if none came. What remains is the hop to the exec.
	if a.stopAsked() {
		return errStopDuringUpgrade
	}
	if err := a.spawner.Exec(path(), u.Argv, env); err != nil {
		return fmt.Errorf("%w (the binary at %s)", err, u.Exe)
	}
	return nil
}

// execState is the state the new image takes over, as the exec has it:
// with the signals pending, the inherited processes still alive, the
// worker log rings, poold's own listeners and their subscribers, and the
// control connections the new image takes over (cancel closes what
// was opened for them, should the exec not happen).
func (a *Arbiter) execState(h *controlHold) (st *upgrade.State, cancel func()) {
	u := a.opts.Upgrade
	cancel = h.takeConns()
	st = a.state(time.Now())
	st.Control = h.conns
	st.Pending = a.pendingSignals()
	for _, p := range childPids(os.Getpid()) { // still alive, still poold's
		if a.inherited[p] {
			st.Inherited = append(st.Inherited, p)
		}
	}
	// The rings only here, with every reader stopped: the pre-flight's
	// copy of the state has no need of them (up to 4 MiB a watcher).
	st.Logs, st.LogEpoch = a.output.handoverLogs(), a.output.epoch.Load()
	if u.Listeners != nil {
		st.Transports = u.Listeners()
	}
	handExtras(st, u)
	return st, cancel
}

// pendingSignals lists the signals taken and not yet acted on, for the
// new image (State.Pending).
func (a *Arbiter) pendingSignals() []string {
	var out []string
	if a.signalled.reload.Load() > 0 {
		out = append(out, "reload")
	}
	if a.signalled.reopen.Load() > 0 {
		out = append(out, "reopen")
	}
	return out
}

// actOnPending does, in the new image, what the old one was asked by a
// signal during its hand-over (State.Pending), after the casts its loop
// took meanwhile (State.Casts). On the loop, before it serves anything.
func (a *Arbiter) actOnPending(pending []string) {
	if a.opts.Adopt != nil {
		a.runHandedCasts(a.opts.Adopt.Casts)
	}
	for _, p := range pending {
		switch p {
		case "reload":
			a.log.Info("a SIGHUP came during the upgrade: reloading config now")
			a.reloadConfig(a.logReload)
		case "reopen":
			a.log.Info("a SIGUSR1 came during the upgrade: reopening worker log files now")
			a.reopenAll()
		}
	}
}

// state is what the new image takes over.
func (a *Arbiter) state(now time.Time) *upgrade.State {
	cfg := *a.cfg
	st := &upgrade.State{Version: upgrade.Version, Taken: now, Started: a.started, Outcome: a.upgraded,
		Config: &cfg, NotifyDir: a.notifyDir,
		Reload: &upgrade.Reload{OK: a.config.LastReloadOK, LastSuccess: a.config.LastSuccess, Error: a.config.LastError}}
	st.BootTime, _ = a.opts.Stats.BootTime() // 0 if /proc cannot say: the new image reads its own
	cfg.Watchers = nil
	for _, key := range slices.Sorted(maps.Keys(a.filed)) {
		st.Filed = append(st.Filed, a.filed[key])
	}
	for _, w := range a.sorted(nil) {
		ws := w.Snapshot(now)
		cfg.Watchers = append(cfg.Watchers, ws.Spec)
		st.Watchers = append(st.Watchers, ws)
		if g, ok := a.argsGiven[w]; ok {
			if st.ArgsGiven == nil {
				st.ArgsGiven = map[string]upgrade.ArgsShape{}
			}
			st.ArgsGiven[w.Name()] = g
		}
	}
	st.Seq, st.History = a.bus.Snapshot()
	_, st.Instance = a.bus.Position()
	st.Sockets = a.socks.Handover()
	// Pipes of workers that are gone (held open by what they left)
	// close in the exec.
	for _, p := range a.output.handover() {
		if a.owner[p.Pid] != nil {
			st.Pipes = append(st.Pipes, p)
		}
	}
	if a.tree != nil {
		st.Cgroups = &upgrade.Cgroups{Dir: a.tree.Dir, LockFD: a.tree.LockFD(), Groups: map[int]string{}}
		for pid, g := range a.groups {
			st.Cgroups.Groups[pid] = g.Dir
			base, pidsBase, killed := g.Handover()
			if base > 0 {
				if st.Cgroups.OOMBase == nil {
					st.Cgroups.OOMBase = map[int]int{}
				}
				st.Cgroups.OOMBase[pid] = base
			}
			if pidsBase > 0 {
				if st.Cgroups.PidsBase == nil {
					st.Cgroups.PidsBase = map[int]int{}
				}
				st.Cgroups.PidsBase[pid] = pidsBase
			}
			if killed {
				st.Cgroups.Killed = append(st.Cgroups.Killed, pid)
			}
		}
	}
	return st
}
