package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/arbiter/controller"
	"github.com/poold/poold/arbiter/upgrade"
	"github.com/poold/poold/configs"
	"github.com/poold/poold/events/zmqguard"
	"github.com/poold/poold/watcher/spawn"
	"github.com/poold/poold/web"
	"golang.org/x/sys/unix"
)

// version is poold's version, set by the Makefile from git describe
// (-ldflags "-X main.version=...").
var version = "dev"

// For tests only, not a user interface: nothing documents them and no
// config sets them. Each does nothing unless poold's environment names a
// file and that file exists, and arms once (the load removes it). They
// stay in the release binary on purpose: the tests run the binary `go
// build` makes, as `make build` does, and a build tag that left them out
// would have the tests check another binary than the one shipped.
// envTestFail makes the next state load fail, as a broken new binary
// would; envTestKill makes it SIGKILL the first
// handed-over worker and wait until it is a zombie, a worker that died
// during the exec.
// envTestHold holds the new image: it removes the file, then waits (up
// to a minute) for the file's path plus ".go" to exist, before it loads
// the state: a test sends signals meanwhile. envTestHoldUp holds the new
// image later, its HTTP listeners made and its loop not yet up.
// envTestHoldBind holds the old image so at the start of its exec step,
// on the loop, before it binds ahead what the new image needs;
// envTestHoldExplain, off the loop, as it words a refused bind ahead
// (explainAhead: the lookup of the port's holder);
// envTestHoldOld, in its hand-over, after the wait for the log readers
// and before it takes the state; envTestHoldExec, later, once the state
// is written, just before the last look for a stop asked meanwhile.
const (
	envTestFail        = "POOLDTEST_UPGRADE_FAIL"
	envTestKill        = "POOLDTEST_UPGRADE_KILL"
	envTestHold        = "POOLDTEST_UPGRADE_HOLD"
	envTestHoldUp      = "POOLDTEST_UPGRADE_HOLD_UP"
	envTestHoldBind    = "POOLDTEST_UPGRADE_HOLD_BIND"
	envTestHoldExplain = "POOLDTEST_UPGRADE_HOLD_EXPLAIN"
	envTestHoldOld     = "POOLDTEST_UPGRADE_HOLD_OLD"
	envTestHoldExec    = "POOLDTEST_UPGRADE_HOLD_EXEC"
)

// Set by main, for the binary only (tests call run in-process): the
// spawner served on the main thread, the state handed over by the previous
// image, and what an upgrade execs.
var (
	mainSpawner *spawn.Spawner
	// caughtSignals holds the stop, reload and other signals an upgrade's
	// new image caught from its start (package catch), nil otherwise.
	caughtSignals <-chan os.Signal
	adoptState    *upgrade.State
	selfExe       string
	startEnv      []string
	// cookieKey signs the console's cookies (web.NewCookieKey): drawn at
	// start, the old image's in an upgrade's new one, drawn again by
	// the console at each change of [web] token.
	cookieKey = web.NewCookieKey()
)

// The main goroutine stays on the main thread, where the spawner serves
// (spawn.RunOnMain): see watcher/spawn/exec.go.
func init() { runtime.LockOSThread() }

// printVersion answers --version and --upgrade-check (which also decodes
// a state given on stdin, so a new binary that cannot read it is refused
// before the exec). It reports whether args asked for either.
func printVersion(args []string, stdin io.Reader, stdout io.Writer) (bool, error) {
	if len(args) != 1 {
		return false, nil
	}
	switch args[0] {
	case "--version", "-version":
		fmt.Fprintln(stdout, "poold", version)
		return true, nil
	case "--upgrade-check", "-upgrade-check":
		formats := make([]string, len(upgrade.Readable))
		for i, v := range upgrade.Readable {
			formats[i] = strconv.Itoa(v)
		}
		fmt.Fprintf(stdout, "poold %s\nstate-formats %s\ncheck-flags %s\ntakes %s %s\n", version, strings.Join(formats, ","), configOnlyFlag, takesConns, takesCasts)
		if stdin == nil {
			return true, nil
		}
		st, err := upgrade.Decode(stdin)
		if err != nil && !errors.Is(err, io.EOF) {
			return true, fmt.Errorf("upgrade check: %w", err)
		}
		if err == nil {
			return true, adoptable(st)
		}
		return true, nil
	}
	return false, nil
}

// adoptable says why the new image could not take over the watchers of
// st, nil when it can: each is made again with its user's and group's
// ids, looked up by name, and one that fails would stop the new image
// with every worker. A user or group deleted under a running watcher
// (which a reload now lets be) is found here, before the exec.
func adoptable(st *upgrade.State) error {
	var errs []error
	for _, spec := range st.Config.Watchers {
		if _, err := spec.Credential(); err != nil {
			errs = append(errs, fmt.Errorf("%w (the new image could not take this watcher over)", err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("upgrade check: %w", errors.Join(errs...))
	}
	return nil
}

// takeOver reads the state handed over by the previous image, if any. A
// state that cannot be loaded execs the old binary back with it (a
// rollback); this runs on the main thread, so the workers survive that
// exec too.
func takeOver() error {
	v, ok := os.LookupEnv(upgrade.EnvFDs)
	if !ok {
		return nil
	}
	holdIfAsked(envTestHold)
	rollback, isRollback := os.LookupEnv(upgrade.EnvRollback)
	hupIgnored = os.Getenv(upgrade.EnvHupIgnored) == "1"
	os.Unsetenv(upgrade.EnvHupIgnored)
	os.Unsetenv(upgrade.EnvFDs)
	os.Unsetenv(upgrade.EnvRollback)
	os.Unsetenv(upgrade.EnvExe)
	stateFD, oldFD, err := upgrade.ParseEnv(v)
	if err != nil {
		return err
	}
	st, err := loadState(stateFD)
	if err != nil {
		if isRollback {
			return fmt.Errorf("upgrade rollback: the old binary cannot load the state either: %w", err)
		}
		env := withoutUpgradeEnv(os.Environ())
		env = append(env, upgrade.EnvFDs+"="+v, upgrade.EnvExe+"="+selfExe, upgrade.EnvRollback+"=new binary "+version+": "+err.Error())
		env = withHupIgnored(env)
		fmt.Fprintln(os.Stderr, "poold: upgrade: the new binary cannot take over; executing the old one again:", err)
		err = spawn.ExecImage("/proc/self/fd/"+strconv.Itoa(oldFD), os.Args, env)
		return fmt.Errorf("upgrade rollback: exec the old binary: %w", err)
	}
	syscall.Close(oldFD)
	st.Outcome.NewVersion = version
	st.Outcome.State = "upgraded"
	if isRollback {
		st.Outcome.State, st.Outcome.Reason = "rolled_back", rollback
	}
	adoptState = st
	if k := arbiter.CookieKeyHandedOver(st); k != nil {
		cookieKey = web.HandedOverCookieKey(k)
	}
	inheritListeners(st.Transports)
	inheritConns(st, stateFD, oldFD)
	for key, n := range arbiter.PeersHandedOver(st) {
		if network, addr, ok := zmqguard.SplitKey(key); ok {
			zmqguard.ExpectPeers(network, addr, n)
		}
	}
	return nil
}

func loadState(fd int) (*upgrade.State, error) {
	if p := os.Getenv(envTestFail); p != "" {
		if err := os.Remove(p); err == nil {
			return nil, errors.New("failing the state load as " + envTestFail + " asked")
		}
	}
	st, err := upgrade.ReadFD(fd)
	if p := os.Getenv(envTestKill); err == nil && p != "" && os.Remove(p) == nil {
		killFirstWorker(st)
	}
	return st, err
}

// holdIfAsked is the doing of envTestHold and the other holds (env, the one).
func holdIfAsked(env string) {
	p := os.Getenv(env)
	if p == "" || os.Remove(p) != nil {
		return
	}
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); <-tick.C {
		if os.Remove(p+".go") == nil {
			return
		}
	}
}

// killFirstWorker is envTestKill's doing.
func killFirstWorker(st *upgrade.State) {
	for _, w := range st.Watchers {
		for _, p := range w.Procs {
			_ = syscall.Kill(p.Pid, syscall.SIGKILL)
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			deadline := time.Now().Add(10 * time.Second)
			for ; time.Now().Before(deadline); <-tick.C {
				b, err := os.ReadFile("/proc/" + strconv.Itoa(p.Pid) + "/stat")
				if i := bytes.LastIndexByte(b, ')'); err != nil || (i > 0 && bytes.HasPrefix(b[i+1:], []byte(" Z"))) {
					return
				}
			}
			return
		}
	}
}

func withoutUpgradeEnv(env []string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool {
		for _, name := range []string{upgrade.EnvFDs, upgrade.EnvRollback, upgrade.EnvExe, upgrade.EnvHupIgnored} {
			if strings.HasPrefix(kv, name+"=") {
				return true
			}
		}
		return false
	})
}

// withHupIgnored adds to env, a new image's, that this poold was started
// with SIGHUP ignored (nohup) when it was: the new image then outlives
// the terminal as the first did (hangup.go).
func withHupIgnored(env []string) []string {
	if hupIgnored {
		env = append(env, upgrade.EnvHupIgnored+"=1")
	}
	return env
}

// checkEnv is the environment of a pre-flight run of the new binary:
// poold's own at its start, without the hand-over's variables, and with
// GOMAXPROCS=2 unless set: a check needs no more, and the Go runtime
// starts a thread per P it uses (26 at GOMAXPROCS=64, against the 12
// pids beyond poold's reserve the pre-flight asks for).
func checkEnv(env []string) []string {
	env = withoutUpgradeEnv(env)
	if !slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "GOMAXPROCS=") }) {
		env = append(env, "GOMAXPROCS=2")
	}
	return env
}

// upgrader is what the arbiter needs to upgrade this binary in place;
// begin's end, and undrain, undo begin and drain when the exec did not
// happen.
func upgrader(path string, log hclog.Logger, begin func() (end func()), drain, undrain func()) *arbiter.Upgrader {
	if mainSpawner == nil {
		return nil
	}
	env := withHupIgnored(append(withoutUpgradeEnv(startEnv), upgrade.EnvExe+"="+selfExe))
	return &arbiter.Upgrader{Version: version, Exe: selfExe, Argv: os.Args, Env: env,
		Begin: begin, Drain: drain, Undrain: undrain, Listeners: ownListeners, Peers: zmqguard.Peers,
		Bind: func(cfg *configs.Config) (func(), error) {
			holdIfAsked(envTestHoldBind)
			return bindAhead(path, cfg)
		},
		Explain: explainAhead,
		Preflight: func(ctx context.Context, state []byte) (string, error) {
			v, err := preflight(ctx, log, selfExe, path, false, state)
			if err != nil {
				checked.close()
			}
			return v, err
		},
		// the control endpoint's requests in flight (arbiter/upgradectl.go)
		Hold: func() (func() bool, func(), bool) {
			frozen := checked.takesOver(takesConns)
			quiet, release := controller.HoldAll(frozen)
			return quiet, release, frozen
		},
		Waiting: controller.HeldFor,
		Conns:   handOffConns,
		Casts:   func() bool { return checked.takesOver(takesCasts) },
		Checked: func() (func() string, func(), error) {
			holdIfAsked(envTestHoldExec)
			return checked.execPath, checked.close, checked.verify()
		},
		CookieKey: cookieKey.Bytes,
	}
}

// configOnlyFlag makes --check leave the watchers' programs unchecked; a
// binary that has it says so in its --upgrade-check ("check-flags").
const configOnlyFlag = "--config-only"

// preflight runs the new binary's handshake (its version and the state
// formats it reads, decoding the actual state) and its --check of the
// config: what the new image would refuse, its syntax and values. A
// watcher whose program is missing does not count: poold runs with it
// (it retries with backoff) and so would the new image. A binary without
// --config-only gets the full --check. It changes nothing. A check it
// runs is logged at INFO; one whose inputs passed before runs nothing
// and says so at DEBUG (an upgrade that waits checks at every round).
func preflight(ctx context.Context, log hclog.Logger, exe, path string, strict bool, state []byte) (string, error) {
	inputs, err := boundedInputs(ctx, path, strict, state)
	if err != nil {
		return "", err
	}
	if v, ok := checked.passedBefore(exe, inputs); ok {
		// the same file on the same inputs passed (upgradeonce.go)
		log.Debug("upgrade: the new binary and the config are unchanged since the last check; not checking again", "path", exe)
		return v, nil
	}
	log.Info("upgrade: checking the new binary", "path", exe)
	run, err := checked.open(exe)
	if err != nil {
		return "", err
	}
	out, err := runCheckAt(ctx, checkTimeout, exe, run, bytes.NewReader(state), "--upgrade-check")
	newVer, formats, flags := handshake(out)
	checked.said(out)
	// A poold that reads other formats prints them, then fails to decode
	// the state: its own error does not say what to do, this one does.
	readsOurs := slices.Contains(strings.Split(formats, ","), strconv.Itoa(upgrade.Version))
	if (err == nil || formats != "") && !readsOurs {
		return "", fmt.Errorf("%s --upgrade-check: it (poold %s) reads state formats %q, not %d, the one this poold writes, "+
			"so it cannot take over in place; install a binary that reads format %d, or restart poold with this one "+
			"(poolctl quit, then start it: its workers stop and start again)", exe, newVer, formats, upgrade.Version, upgrade.Version)
	}
	if err != nil {
		return "", err
	}
	args := []string{"--check"}
	if slices.Contains(strings.Fields(flags), configOnlyFlag) {
		args = append(args, configOnlyFlag) // programs that cannot start do not stop an upgrade
	}
	if strict {
		args = append(args, "--strict")
	}
	args = append(args, path)
	if _, err := runCheckAt(ctx, checkTimeout, exe, checked.runPath(), nil, args...); err != nil {
		return "", err
	}
	checked.passed(inputs, newVer)
	return newVer, nil
}

// handshake reads the new binary's --upgrade-check output: its version,
// the state formats it reads and its check flags.
func handshake(out string) (version, formats, flags string) {
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "check-flags "); ok {
			flags = v
		}
		if v, ok := strings.CutPrefix(line, "poold "); ok {
			version = v
		}
		if v, ok := strings.CutPrefix(line, "state-formats "); ok {
			formats = v
		}
	}
	return version, formats, flags
}

// checkTimeout bounds one run of the new binary in a pre-flight.
const checkTimeout = 30 * time.Second

// runCheck runs exe with args, for at most timeout, and returns its
// stdout, with an error with its exit status and the head of its output
// when it failed.
// It runs in a process group of its own, killed once it exits, times out
// or ctx ends (poold stops): a check that leaves a child behind holding
// its pipes can neither hang the upgrade nor outlive it.
func runCheck(ctx context.Context, timeout time.Duration, exe string, stdin io.Reader, args ...string) (string, error) {
	return runCheckAt(ctx, timeout, exe, exe, stdin, args...)
}

// runCheckAt is runCheck running the file at run (the pre-flight's open
// binary, /proc/PID/fd/N), named exe in its argv and errors.
func runCheckAt(ctx context.Context, timeout time.Duration, exe, run string, stdin io.Reader, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, run, args...)
	cmd.Args[0] = exe
	cmd.Stdin = stdin
	cmd.Env = checkEnv(startEnv)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second // a backstop: Wait then closes the pipes
	what := fmt.Sprintf("pre-flight %s %s", exe, strings.Join(args, " "))
	release, err := spawn.StartOwned(cmd)
	if err != nil && ctx.Err() == nil {
		return "", fmt.Errorf("%s: %w%s", what, err, startHint(err))
	}
	if err == nil {
		defer release()
		pid := cmd.Process.Pid
		// The leader's zombie, not reaped yet, keeps the group's id: its
		// leftovers are killed without a risk of hitting a stranger.
		var info unix.Siginfo
		for {
			if werr := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil); !errors.Is(werr, unix.EINTR) {
				break
			}
		}
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		err = cmd.Wait()
	}
	said := outputHead(stderr.String() + stdout.String())
	if said != "" {
		said = ": " + said
	}
	switch {
	case err == nil:
		return stdout.String(), nil
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return stdout.String(), fmt.Errorf("%s: timed out after %v (killed it and its children); check that this binary is poold%s", what, timeout, said)
	case ctx.Err() != nil:
		return "", fmt.Errorf("%s: cancelled: poold is stopping", what)
	}
	return stdout.String(), fmt.Errorf("%s: %w%s", what, err, said)
}

// startHint says what to do about a new binary that could not be run
// at all.
func startHint(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "; install the new poold at that path (an upgrade runs the path poold was started from; " +
			"for a script, check its #! interpreter)"
	case errors.Is(err, fs.ErrPermission):
		return "; make it executable by poold's user (chmod 755), through directories that user may search"
	case errors.Is(err, syscall.ETXTBSY):
		return "; it is being written: let the install finish (write beside it, then rename over it) and upgrade again"
	case errors.Is(err, syscall.ENOEXEC):
		return "; it is not a program this machine runs (another architecture, or a truncated copy): install the right build"
	}
	return ""
}

// A refusal's reason keeps the head of a check's output, where its error
// is (a long list of valid keys may follow it): headLines lines, each cut
// at headWidth bytes.
const (
	headLines = 5
	headWidth = 240
)

// outputHead is the start of a check's output, for a refusal's reason.
func outputHead(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	more := len(lines) - headLines
	lines = lines[:min(len(lines), headLines)]
	for i, l := range lines {
		if len(l) > headWidth {
			lines[i] = l[:headWidth] + "..."
		}
	}
	if more > 0 {
		lines = append(lines, fmt.Sprintf("(%d more lines)", more))
	}
	return strings.Join(lines, "\n")
}
