package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/arbiter/upgrade"
	"github.com/poold/poold/watcher/proctest"
)

// hangingBinary is a "new binary" whose every run leaves a child holding
// its output pipes and waits for it: it writes the child's pid to pidfile.
func hangingBinary(pidfile string) []byte {
	return fmt.Appendf(nil, "#!/bin/sh\nsleep 3600 &\necho $! > %s\nwait\n", pidfile)
}

// gone reports whether pid no longer runs (exited, or a zombie).
func gone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	i := strings.LastIndexByte(string(b), ')')
	return i > 0 && strings.HasPrefix(string(b[i+1:]), " Z")
}

func readPid(t *testing.T, path string) int {
	t.Helper()
	var pid int
	proctest.Eventually(t, "the pre-flight's child to start", func() bool {
		b, err := os.ReadFile(path)
		pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil && pid > 0
	})
	return pid
}

// A pre-flight that hangs with a child holding its pipes times out, says
// so, and leaves nothing behind.
func TestRunCheckTimesOutAndKillsItsChildren(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	exe, pidfile := filepath.Join(dir, "poold"), filepath.Join(dir, "child.pid")
	if err := os.WriteFile(exe, hangingBinary(pidfile), 0o755); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := runCheck(context.Background(), 300*time.Millisecond, exe, nil, "--upgrade-check")
	if took := time.Since(start); took > hang {
		t.Fatalf("runCheck returned after %v", took)
	}
	if err == nil || !contains(err.Error(), exe, "--upgrade-check", "timed out after 300ms") {
		t.Fatalf("runCheck of a binary that hangs: %v; want the path, the arguments and 'timed out after 300ms'", err)
	}
	pid := readPid(t, pidfile)
	proctest.Eventually(t, fmt.Sprintf("the pre-flight's child %d to be killed", pid), func() bool { return gone(pid) })
}

// SIGTERM stops a poold whose upgrade pre-flight hangs: the pre-flight is
// cancelled and its child killed, and poold exits 0.
func TestUpgradeHangingPreflightDoesNotBlockStop(t *testing.T) {
	t.Parallel()
	p := startUpgradable(t, fmt.Sprintf(upgradeConfig, 1))
	pidfile := filepath.Join(p.dir, "child.pid")
	p.installBytes(hangingBinary(pidfile))
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() { // answered once poold stops
		defer wg.Done()
		_, _ = p.try("upgrade", nil)
	}()
	child := readPid(t, pidfile)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(hang):
		t.Fatalf("poold still runs %v after SIGTERM, its upgrade pre-flight hanging", hang)
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("poold exit status %d after SIGTERM, want 0", code)
	}
	proctest.Eventually(t, fmt.Sprintf("the pre-flight's child %d to be killed", child), func() bool { return gone(child) })
}

// The refusal of a config keeps the head of --check's output, where the
// error names the key, not the tail of the list of valid keys after it.
func TestUpgradeRefusalNamesTheKey(t *testing.T) {
	t.Parallel()
	p := startUpgradable(t, fmt.Sprintf(upgradeConfig, 1))
	bad := fmt.Sprintf(upgradeConfig, 1) + "[watchers.newone]\ncmd = \"sleep\"\nbogus_key = 1\n"
	writeConfig(t, p.dir, bad)
	_, refused := p.upgrade()
	if refused == nil || !contains(reason(refused), "watchers.newone.bogus_key: unknown key") {
		t.Fatalf("upgrade with an unknown key in the config: refusal %v; want the key named", refused)
	}
	if r := reason(refused); len(r) > 1000 {
		t.Errorf("refusal reason of %d bytes, want it cut: %s", len(r), r)
	}
}

func TestOutputHead(t *testing.T) {
	t.Parallel()
	long := "watchers.x.bogus: unknown key; valid keys: " + strings.Repeat("key, ", 100)
	cases := []struct{ in, want string }{
		{"  one line\n", "one line"},
		{long, long[:headWidth] + "..."},
		{"1\n2\n3\n4\n5\n6\n7", "1\n2\n3\n4\n5\n(2 more lines)"},
	}
	for _, c := range cases {
		if got := outputHead(c.in); got != c.want {
			t.Errorf("outputHead(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// A watcher whose program is missing does not block an upgrade: poold
// runs with it (it retries with backoff) and so does the new image. The
// user's poold --check still reports it.
func TestUpgradeWithAMissingProgram(t *testing.T) {
	t.Parallel()
	config := fmt.Sprintf(upgradeConfig, 1) + "[watchers.batch]\ncmd = \"/nonexistent/not-deployed-yet/worker\"\n"
	p := startUpgradable(t, config)
	proctest.Eventually(t, "1 web worker", func() bool { return len(p.pids("web")) == 1 })
	before := p.pids("web")
	o, refused := p.upgrade()
	if refused != nil || o["state"] != "upgraded" {
		t.Fatalf("upgrade with a watcher whose program is missing: outcome %v, refusal %v", o, refused)
	}
	if now := p.pids("web"); !slices.Equal(now, before) {
		t.Errorf("web pids %v after the upgrade, want %v", now, before)
	}
	out, err := exec.Command(p.exe, "--check", p.cfg).CombinedOutput()
	if err == nil || !contains(string(out), "watchers.batch.cmd", "not found") {
		t.Errorf("poold --check of a config with a missing program: %v, %s; want exit 78 naming watchers.batch.cmd", err, out)
	}
	out, err = exec.Command(p.exe, "--check", "--config-only", p.cfg).CombinedOutput()
	if err != nil || !contains(string(out), "ok", "programs not checked") {
		t.Errorf("poold --check --config-only: %v, %s; want ok", err, out)
	}
}

// A pre-flight that fails without a word ends its error with the exit
// status, not with a dangling ": ".
func TestRunCheckFailingSilentlyEndsWithItsStatus(t *testing.T) {
	t.Parallel()
	exe := filepath.Join(t.TempDir(), "poold")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := runCheck(context.Background(), hang, exe, nil, "--upgrade-check")
	if err == nil || !strings.HasSuffix(err.Error(), "--upgrade-check: exit status 3") {
		t.Fatalf("runCheck of a binary that exits 3 silently: %v; want it to end with the exit status", err)
	}
}

// TestPreflightRunsWithTwoPs: the pre-flight's runs of the new binary
// took a thread per CPU (26 at GOMAXPROCS=64) from poold's pids limit,
// where it asks for 12 beyond poold's reserve (r49d review). They run with
// GOMAXPROCS=2, unless the user set it, and without the hand-over's
// variables.
func TestPreflightRunsWithTwoPs(t *testing.T) {
	t.Parallel()
	env := checkEnv([]string{"PATH=/bin", upgrade.EnvFDs + "=3"})
	if !slices.Contains(env, "GOMAXPROCS=2") || slices.Contains(env, upgrade.EnvFDs+"=3") {
		t.Errorf("pre-flight env %v: want GOMAXPROCS=2 and no %s", env, upgrade.EnvFDs)
	}
	if env := checkEnv([]string{"GOMAXPROCS=4"}); !slices.Equal(env, []string{"GOMAXPROCS=4"}) {
		t.Errorf("pre-flight env with the user's GOMAXPROCS=4: %v, want it kept alone", env)
	}
}
