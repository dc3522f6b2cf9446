package arbiter

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher"
	"github.com/poold/poold/watcher/procinfo"
)

// parseSignal accepts 15, "15", "TERM", "SIGTERM", "term".
func parseSignal(v any) (syscall.Signal, error) {
	switch v := v.(type) {
	case float64:
		if v != math.Trunc(v) {
			// circusd sends int(1.5), SIGHUP: a surprise poold refuses.
			return 0, badSignumError(fmt.Sprintf("%v is not a whole number (use a name like TERM or HUP, or a number)", v))
		}
		return configs.ParseSignal(strconv.FormatFloat(v, 'f', -1, 64))
	case bool:
		// circusd sends int(true), SIGHUP: a surprise poold refuses.
		return 0, badSignumError(fmt.Sprintf("%v is not a signal (use a name like TERM or HUP, or a number)", v))
	case string:
		sig, err := configs.ParseSignal(v)
		if !startsWord(v) {
			// circusd's "signal invalid" (errno 3): no word to look up
			// (" HUP" too, which circusd refuses so).
			if err == nil {
				err = fmt.Errorf("%q begins with no letter or digit (use a name like TERM or HUP, or a number)", v)
			}
			return 0, badSignumError(err.Error())
		}
		return sig, err
	}
	if v == nil {
		return 0, errors.New("null is not a signal (use a name like TERM or HUP, or a number)")
	}
	return 0, fmt.Errorf("%s is not a signal (use a name like TERM or HUP, or a number)", jsonWords(v))
}

// jsonWords is v as the client sent it, in JSON ({}, [1]), for an error.
func jsonWords(v any) string { return wireText(v) }

// signumOf reads command's signum property, the one way signal and kill
// both do, as circusd: given reports whether there is one (a null one is
// one, and no signal: errno 5, as circusd's), and probe takes 0 too
// (probeOrSignal). A bad one is the error reply (badSignum).
func signumOf(command string, p props, probe bool) (sig syscall.Signal, given bool, err error) {
	v, given := p.p["signum"]
	if !given {
		return 0, false, nil
	}
	parse := parseSignal
	if probe {
		parse = probeOrSignal
	}
	if sig, err = parse(v); err != nil {
		return 0, true, badSignum(command, err)
	}
	return sig, true, nil
}

// badSignumError is a signum refused as a bad property (errno 3): one
// circusd calls "signal invalid" (a string that begins with no letter,
// digit or _), or takes with a surprise (true, 1.5: it sends SIGHUP).
type badSignumError string

func (e badSignumError) Error() string { return string(e) }

// startsWord reports whether s begins as circusd's signal lookup needs
// (a letter, digit or _), so that circusd answers an unknown name with
// errno 5, not "signal invalid".
func startsWord(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r)
}

// probeOrSignal is parseSignal that also takes 0, as circusd's signal
// does: kill(2) with no signal, which only checks that the processes
// exist (circusctl signal web 0 answers ok while they do).
func probeOrSignal(v any) (syscall.Signal, error) {
	if v == float64(0) || v == "0" {
		return 0, nil
	}
	return parseSignal(v)
}

// badSignum is the error reply of command to a signum that is no
// signal, with circusd's errno, which Circus scripts may test: a number
// out of range is an OS error (errno 4: circusd's kill(2) fails with
// EINVAL), "signal invalid" (a string with no word in it) a bad property
// (errno 3), as is what poold refuses where circusd sends SIGHUP (true,
// 1.5), anything else a failed command (errno 5: circusd's signal lookup
// raises). The reason is poold's, which says what to send.
func badSignum(command string, err error) error {
	switch {
	case errors.Is(err, configs.ErrSignalRange):
		return errorf(ErrnoOS, "%s: %v", command, err)
	case errors.As(err, new(badSignumError)):
		return errorf(ErrnoBadProperty, "%s: signum: %v", command, err)
	}
	return errorf(ErrnoFailed, "%s: %v", command, err)
}

func cmdSignal(a *Arbiter, m *cmdMsg) error {
	w, err := a.watcherProp(m)
	if err != nil {
		return err
	}
	p := m.props()
	sig, given, err := signumOf("signal", p, true)
	if err != nil {
		return err
	}
	if !given {
		return errorf(ErrnoBadProperty, "signal: property \"signum\" is required (a name like HUP or a number)")
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
	childpid, err := p.integer("childpid", 0)
	if err != nil {
		return err
	}
	pids, all := w.Pids(), pid == 0
	if pid != 0 {
		if !w.Has(pid) {
			return noSuchPid("signal", w, pid)
		}
		pids = []int{pid}
	}
	if childpid != 0 {
		return signalChild(m, w, pid, childpid, sig)
	}
	for _, pid := range pids {
		var err error
		switch { // as circusd: children wins over recursive
		case children:
			for _, c := range childPids(pid) {
				_ = syscall.Kill(c, sig)
			}
		case recursive:
			err = syscall.Kill(-pid, sig)
			if err == nil {
				a.signalBeyondGroup(pid, sig)
			}
		default:
			err = syscall.Kill(pid, sig)
		}
		if errors.Is(err, syscall.ESRCH) && all {
			// It ended a moment ago and its exit is on its way to the
			// loop: it needs no signal, and the others still do.
			continue
		}
		if err != nil {
			return errorf(ErrnoOS, "signal: watcher %q pid %d: %s: %v", w.Name(), pid, configs.SignalName(sig), err)
		}
	}
	m.ok(nil)
	return nil
}

// signalChild sends sig to childpid, a child of the worker pid, as
// Circus's signal with childpid does.
func signalChild(m *cmdMsg, w *watcher.Watcher, pid, childpid int, sig syscall.Signal) error {
	if pid == 0 {
		return errorf(ErrnoBadProperty, "signal: property \"childpid\" needs \"pid\", the worker whose child it is")
	}
	if !slices.Contains(childPids(pid), childpid) {
		return errorf(ErrnoBadProperty, "signal: pid %d is not a child of watcher %q's worker %d (its children: %v)", childpid, w.Name(), pid, childPids(pid))
	}
	if err := syscall.Kill(childpid, sig); err != nil {
		return errorf(ErrnoOS, "signal: watcher %q pid %d child %d: %s: %v", w.Name(), pid, childpid, configs.SignalName(sig), err)
	}
	m.ok(nil)
	return nil
}

// signalBeyondGroup sends sig to what worker pid started that left its
// process group (a child that called setsid, a shell's job), which the
// signal to the group did not reach: circusd's recursive signal goes to
// the worker's descendants wherever they are. With a cgroup per worker
// they are what is in it (an orphan of the worker, reparented to poold,
// too); without, its descendants in /proc. Those still in the group had
// it already. Off the loop: a walk of /proc through 300 workers of 50
// threads took a second. Not with another pid namespace's /proc, whose
// pids are other processes.
func (a *Arbiter) signalBeyondGroup(pid int, sig syscall.Signal) {
	if a.foreignProc {
		return
	}
	g := a.groups[pid]
	a.bg.Add(1)
	go func() {
		defer a.bg.Done()
		var beyond []int
		if g != nil {
			beyond = g.Pids()
		} else {
			beyond = descendants(pid)
		}
		for _, p := range beyond {
			if pg, err := syscall.Getpgid(p); err == nil && pg != pid {
				_ = syscall.Kill(p, sig)
			}
		}
	}()
}

// descendants lists pid's descendants from /proc, breadth first.
func descendants(pid int) []int {
	seen := map[int]bool{pid: true}
	var out []int
	for queue := []int{pid}; len(queue) > 0; queue = queue[1:] {
		for _, c := range childPids(queue[0]) {
			if !seen[c] {
				seen[c] = true
				out = append(out, c)
				queue = append(queue, c)
			}
		}
	}
	return out
}

// childPids lists the direct children of pid from /proc.
func childPids(pid int) []int { return procinfo.Children(pid) }

func cmdKill(a *Arbiter, m *cmdMsg) error {
	w, err := a.watcherProp(m)
	if err != nil {
		return err
	}
	p := m.props()
	sig, given, err := signumOf("kill", p, false)
	if err != nil {
		return err
	}
	if !given {
		sig = w.Spec().StopSignal
	}
	grace := time.Duration(-1)
	if p.has("graceful_timeout") {
		g, err := p.seconds("graceful_timeout")
		if err != nil {
			return err
		}
		grace = g
	}
	pid, err := p.integer("pid", 0)
	if err != nil {
		return err
	}
	pids := w.Pids()
	if pid != 0 {
		if !w.Has(pid) {
			return noSuchPid("kill", w, pid) // as signal's
		}
		pids = []int{pid}
	} else if len(pids) == 0 && w.HookHolds() {
		// A kill of a watcher whose before_start runs (no worker yet)
		// kills the hook and the start with it.
		w.Kill()
	}
	for _, pid := range pids {
		if err := w.KillProcess(pid, sig, grace); err != nil {
			return errorf(ErrnoBadProperty, "kill: %v", err)
		}
	}
	return a.finish(m, []*watcher.Watcher{w}, nil)
}

// noSuchPid is the error for a pid that is not one of w's workers; it
// lists a few of w's pids (a pool may have thousands).
func noSuchPid(cmd string, w *watcher.Watcher, pid int) error {
	const shown = 10
	pids := w.Pids() // sorted
	list := fmt.Sprint(pids)
	if len(pids) > shown {
		list = fmt.Sprintf("%v ... (%d in all; poolctl list %s shows them)", pids[:shown], len(pids), w.Name())
	}
	return errorf(ErrnoBadProperty, "%s: watcher %q has no process with pid %d (its pids: %s)", cmd, w.Name(), pid, list)
}
