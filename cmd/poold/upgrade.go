package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/arbiter/upgrade"
	"github.com/poold/poold/watcher/spawn"
)

// version is poold's version, set by the Makefile from git describe
// (-ldflags "-X main.version=...").
var version = "dev"

// For tests only, each naming a file whose existence arms it once (the
// load removes it): envTestFail makes the next state load fail, as a
// broken new binary would; envTestKill makes it SIGKILL the first
// handed-over worker and wait until it is a zombie, a worker that died
// during the exec.
const (
	envTestFail = "POOLDTEST_UPGRADE_FAIL"
	envTestKill = "POOLDTEST_UPGRADE_KILL"
)

// Set by main, for the binary only (tests call run in-process): the
// spawner served on the main thread, the state handed over by the previous
// image, and what an upgrade execs.
var (
	mainSpawner *spawn.Spawner
	adoptState  *upgrade.State
	selfExe     string
	startEnv    []string
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
		fmt.Fprintf(stdout, "poold %s\nstate-formats %s\n", version, strings.Join(formats, ","))
		if stdin != nil {
			if _, err := upgrade.Decode(stdin); err != nil && !errors.Is(err, io.EOF) {
				return true, fmt.Errorf("upgrade check: %w", err)
			}
		}
		return true, nil
	}
	return false, nil
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
	rollback, isRollback := os.LookupEnv(upgrade.EnvRollback)
	os.Unsetenv(upgrade.EnvFDs)
	os.Unsetenv(upgrade.EnvRollback)
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
		env = append(env, upgrade.EnvFDs+"="+v, upgrade.EnvRollback+"=new binary "+version+": "+err.Error())
		fmt.Fprintln(os.Stderr, "poold: upgrade: the new binary cannot take over; executing the old one again:", err)
		err = syscall.Exec("/proc/self/fd/"+strconv.Itoa(oldFD), os.Args, env)
		return fmt.Errorf("upgrade rollback: exec the old binary: %w", err)
	}
	syscall.Close(oldFD)
	st.Outcome.NewVersion = version
	st.Outcome.State = "upgraded"
	if isRollback {
		st.Outcome.State, st.Outcome.Reason = "rolled_back", rollback
	}
	adoptState = st
	inheritListeners(st.Transports)
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
		return strings.HasPrefix(kv, upgrade.EnvFDs+"=") || strings.HasPrefix(kv, upgrade.EnvRollback+"=")
	})
}

// upgrader is what the arbiter needs to upgrade this binary in place.
func upgrader(path string, drain func()) *arbiter.Upgrader {
	if mainSpawner == nil {
		return nil
	}
	return &arbiter.Upgrader{Version: version, Exe: selfExe, Argv: os.Args, Env: withoutUpgradeEnv(startEnv),
		Drain: drain, Listeners: ownListeners, Preflight: func(ctx context.Context, state []byte) (string, error) {
			return preflight(ctx, selfExe, path, false, state)
		}}
}

// preflight runs the new binary's handshake (its version and the state
// formats it reads, decoding the actual state) and its --check of the
// config. It changes nothing.
func preflight(ctx context.Context, exe, path string, strict bool, state []byte) (string, error) {
	out, err := runCheck(ctx, exe, bytes.NewReader(state), "--upgrade-check")
	if err != nil {
		return "", err
	}
	newVer, formats := "", ""
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "poold "); ok {
			newVer = v
		}
		if v, ok := strings.CutPrefix(line, "state-formats "); ok {
			formats = v
		}
	}
	if !slices.Contains(strings.Split(formats, ","), strconv.Itoa(upgrade.Version)) {
		return "", fmt.Errorf("%s --upgrade-check: it reads state formats %q, not %d, the one this poold writes; install a binary that reads it, or restart poold", exe, formats, upgrade.Version)
	}
	args := []string{"--check", path}
	if strict {
		args = []string{"--check", "--strict", path}
	}
	if _, err := runCheck(ctx, exe, nil, args...); err != nil {
		return "", err
	}
	return newVer, nil
}

// runCheck runs exe with args and returns its stdout, or an error with
// its exit status and the tail of its output.
func runCheck(ctx context.Context, exe string, stdin io.Reader, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Stdin = stdin
	cmd.Env = withoutUpgradeEnv(startEnv)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		tail := strings.TrimSpace(stderr.String() + stdout.String())
		if len(tail) > 400 {
			tail = "..." + tail[len(tail)-400:]
		}
		return "", fmt.Errorf("pre-flight %s %s: %w: %s", exe, strings.Join(args, " "), err, tail)
	}
	return stdout.String(), nil
}
