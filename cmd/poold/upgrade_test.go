package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/arbiter/upgrade"
	"github.com/poold/poold/watcher/proctest"
)

// upgradeConfig: n workers serving on one shared socket.
const upgradeConfig = `
[arbiter]
ENDPOINTS
[sockets.web]
port = 0
[watchers.web]
cmd = @WORKER@
numprocesses = %d
sockets = ["web"]
env = ["POOLD_TEST_WORKER=serve"]
graceful_timeout = "5s"
`

func TestVersionAndUpgradeCheck(t *testing.T) {
	t.Parallel()
	out, err := exec.Command(pooldBinary(t), "--version").Output()
	if err != nil || !strings.HasPrefix(string(out), "poold ") {
		t.Fatalf("poold --version: %q, %v", out, err)
	}
	cmd := exec.Command(pooldBinary(t), "--upgrade-check")
	cmd.Stdin = strings.NewReader(`{"version": 99}`)
	out, err = cmd.Output()
	if err == nil || !strings.Contains(string(out), "state-formats 1,2") {
		t.Fatalf("--upgrade-check of a state in format 99: %q, %v; want the formats printed and a failure", out, err)
	}
}

// A pre-flight that fails changes nothing: the same pids, the same binary,
// and the reply says why, with the path, the exit status and the output.
func TestUpgradePreflightRefusals(t *testing.T) {
	t.Parallel()
	p := startUpgradable(t, fmt.Sprintf(upgradeConfig, 2))
	proctest.Eventually(t, "2 workers", func() bool { return len(p.pids("web")) == 2 })
	before, exe := p.pids("web"), p.exeIno()
	good, err := os.ReadFile(p.exe)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile(p.cfg)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		binary  []byte
		config  string
		reasons []string
	}{
		{"a script that exits 1", []byte("#!/bin/sh\necho this binary is broken >&2\nexit 1\n"), "",
			[]string{p.exe, "--upgrade-check", "exit status 1", "this binary is broken"}},
		{"a binary that reads another state format", []byte("#!/bin/sh\necho poold 9.9\necho state-formats 7\n"), "",
			[]string{p.exe, `reads state formats "7"`, "not 2"}},
		// As a real poold of another format answers: its formats, then its
		// failure to decode the state.
		{"a poold that reads another state format", []byte("#!/bin/sh\necho poold 9.9\necho state-formats 3\n" +
			"echo check-flags --config-only\ncat >/dev/null\n" +
			"echo 'poold: upgrade check: state format 2: this binary reads [3]' >&2\nexit 1\n"), "",
			[]string{p.exe, "poold 9.9", `reads state formats "3"`, "not 2", "cannot take over in place", "restart poold with this one"}},
		{"a config the new binary refuses", good, "[watchers.web]\nnumprocesses = \"many\"\n",
			[]string{"--check", p.cfg, "exit status 78"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p.installBytes(c.binary)
			if c.config != "" {
				if err := os.WriteFile(p.cfg, []byte(c.config), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			_, refused := p.upgrade()
			if refused == nil || !contains(reason(refused), c.reasons...) {
				t.Fatalf("upgrade: %v; want a refusal naming %q", refused, c.reasons)
			}
			if !strings.Contains(reason(refused), "nothing changed") {
				t.Errorf("reason %q does not say that nothing changed", reason(refused))
			}
			if o := p.outcome(); o["state"] != "refused" {
				t.Errorf("upgrade_status: %v, want refused", o)
			}
			p.alive()
			if got := p.pids("web"); !slices.Equal(got, before) {
				t.Errorf("pids %v after a refused upgrade, want %v", got, before)
			}
			if ino := p.exeIno(); ino != exe {
				t.Errorf("/proc/PID/exe is inode %d, want the old binary's %d", ino, exe)
			}
		})
	}
	if err := os.WriteFile(p.cfg, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	p.installBytes(good)
	if o, refused := p.upgrade(); refused != nil || o["state"] != "upgraded" {
		t.Fatalf("upgrade with the good binary back: %v %v", o, refused)
	}
	p.runsInstalled()
}

// A worker that dies during the exec (killed by a test hook in the new
// image before it adopts the workers: a zombie by then) is reaped with
// its exit and reap events, and its slot gets a new worker.
func TestUpgradeWorkerDiedDuringExecIsReapedAndReplaced(t *testing.T) {
	t.Parallel()
	marker := filepath.Join(t.TempDir(), "kill")
	p := startUpgradable(t, fmt.Sprintf(upgradeConfig, 3), envTestKill+"="+marker)
	proctest.Eventually(t, "3 workers", func() bool { return len(p.pids("web")) == 3 })
	before := p.pids("web")
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	o, refused := p.upgrade()
	if refused != nil || o["state"] != "upgraded" {
		t.Fatalf("upgrade: %v %v", o, refused)
	}
	var after []int
	proctest.Eventually(t, "3 workers again, one of them new", func() bool {
		after = p.pids("web")
		return len(after) == 3 && !slices.Equal(after, before)
	})
	var dead []int
	for _, pid := range before {
		if !slices.Contains(after, pid) {
			dead = append(dead, pid)
		}
	}
	if len(dead) != 1 {
		t.Fatalf("pids %v -> %v: want exactly one replaced", before, after)
	}
	seqs, topics, payloads := p.events()
	checkSeqs(t, seqs)
	got := map[string]bool{}
	for i, topic := range topics {
		if pid, _ := payloads[i]["process_pid"].(float64); int(pid) == dead[0] {
			got[topic] = true
		}
	}
	if !got["watcher.web.exit"] || !got["watcher.web.reap"] {
		t.Errorf("events of the dead worker %d: %v; want its exit and reap", dead[0], got)
	}
}

// The new image cannot load the state: the old binary is exec'd back
// with it, everything keeps running, and the outcome says why.
func TestUpgradeRollback(t *testing.T) {
	t.Parallel()
	marker := filepath.Join(t.TempDir(), "fail")
	p := startUpgradable(t, fmt.Sprintf(upgradeConfig, 2), envTestFail+"="+marker)
	proctest.Eventually(t, "2 workers", func() bool { return len(p.pids("web")) == 2 })
	before := p.pids("web")
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	o, refused := p.upgrade()
	if refused != nil || o["state"] != "rolled_back" || !strings.Contains(fmt.Sprint(o["reason"]), "failing the state load") {
		t.Fatalf("upgrade: %v %v; want rolled_back with the reason", o, refused)
	}
	if int(o["pid"].(float64)) != p.cmd.Process.Pid {
		t.Errorf("pid %v after the rollback, want %d", o["pid"], p.cmd.Process.Pid)
	}
	if got := p.pids("web"); !slices.Equal(got, before) {
		t.Errorf("pids %v after the rollback, want %v", got, before)
	}
	if !strings.Contains(p.log.String(), "executing the old one again") {
		t.Errorf("the log does not report the rollback")
	}
	checkKeepsName(t, p.cmd.Process.Pid, "after the rollback", false)
	// The rolled-back image upgrades again.
	if o, refused := p.upgrade(); refused != nil || o["state"] != "upgraded" {
		t.Fatalf("second upgrade: %v %v", o, refused)
	}
	if got := p.pids("web"); !slices.Equal(got, before) {
		t.Errorf("pids %v after the second upgrade, want %v", got, before)
	}
	checkKeepsName(t, p.cmd.Process.Pid, "after an upgrade", true)
}

// checkKeepsName: an image exec'd through /proc/self/fd/N is named "N"
// by the kernel (it was "18" after every upgrade): ps -C poold, pgrep -x
// and killall lost it. The new image names its main thread back, but an
// older build (a downgrade) does not, nor do the threads Go starts before
// main: an upgrade execs the binary by its path while the path holds the
// checked file (allThreads). A rollback execs the old binary by its fd,
// the path holding the new one.
func checkKeepsName(t *testing.T, pid int, when string, allThreads bool) {
	t.Helper()
	base := filepath.Base(pooldBinary(t))
	want := base[:min(15, len(base))]
	if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err != nil || strings.TrimSpace(string(comm)) != want {
		t.Errorf("poold's name %s: %q (%v), want %q", when, comm, err, want)
	}
	if !allThreads {
		return
	}
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/comm", pid))
	for _, f := range tasks {
		if comm, err := os.ReadFile(f); err == nil && strings.TrimSpace(string(comm)) != want {
			t.Errorf("poold's thread %s is named %q %s, want %q", filepath.Dir(f), strings.TrimSpace(string(comm)), when, want)
		}
	}
}

// SIGUSR2 upgrades as the command does.
func TestSIGUSR2Upgrades(t *testing.T) {
	t.Parallel()
	p := startUpgradable(t, fmt.Sprintf(upgradeConfig, 1))
	proctest.Eventually(t, "1 worker", func() bool { return len(p.pids("web")) == 1 })
	before := p.pids("web")
	if err := p.cmd.Process.Signal(syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	proctest.Eventually(t, "the upgrade's outcome", func() bool {
		r, err := p.try("upgrade_status", nil)
		o, _ := r["upgrade"].(map[string]any)
		return err == nil && o["state"] == "upgraded"
	})
	if got := p.pids("web"); !slices.Equal(got, before) {
		t.Errorf("pids %v, want %v", got, before)
	}
	if !contains(p.log.String(), "SIGUSR2: upgrading poold in place") {
		t.Errorf("the signal's upgrade is not in poold's log:\n%s", p.log.String())
	}
}

// An upgrade while a watcher sits in a long graceful stop (a worker that
// ignores SIGTERM): the stop goes on in the new image, which SIGKILLs the
// worker at the deadline the old one set, not later and not earlier.
func TestUpgradeDuringGracefulStop(t *testing.T) {
	t.Parallel()
	const grace = 10 * time.Second
	p := startUpgradable(t, fmt.Sprintf(`
[arbiter]
ENDPOINTS
[sockets.web]
port = 0
[watchers.web]
cmd = @WORKER@
sockets = ["web"]
env = ["POOLD_TEST_WORKER=stubborn"]
graceful_timeout = "%s"
`, grace))
	// Serving: by then it ignores SIGTERM.
	addr := p.waitAddr()
	proctest.Eventually(t, "the worker to serve", func() bool { _, err := get("http://" + addr + "/"); return err == nil })
	worker := p.pids("web")[0]
	if r := p.do("stop", map[string]any{"name": "web"}); r["status"] != "ok" {
		t.Fatalf("stop: %v", r)
	}
	if o, refused := p.upgrade(); refused != nil || o["state"] != "upgraded" {
		t.Fatalf("upgrade during the graceful stop: %v %v", o, refused)
	}
	if got := p.pids("web"); !slices.Equal(got, []int{worker}) {
		t.Fatalf("pids %v after the upgrade, want the stopping worker %d", got, worker)
	}
	proctest.Eventually(t, "the stop to complete", func() bool {
		r := p.do("status", map[string]any{"name": "web"})
		return r["status"] == "stopped"
	})
	_, topics, payloads := p.events()
	var term, kill float64
	for i, topic := range topics {
		if topic != "watcher.web.kill" || int(payloads[i]["process_pid"].(float64)) != worker {
			continue
		}
		switch payloads[i]["signal"].(float64) {
		case float64(syscall.SIGTERM):
			term = payloads[i]["time"].(float64)
		case float64(syscall.SIGKILL):
			kill = payloads[i]["time"].(float64)
		}
	}
	if term == 0 || kill == 0 {
		t.Fatalf("kill events of worker %d: SIGTERM at %v, SIGKILL at %v; want both", worker, term, kill)
	}
	took := time.Duration((kill - term) * float64(time.Second))
	t.Logf("SIGKILL %v after SIGTERM (graceful_timeout %v)", took, grace)
	if took < grace-10*time.Millisecond || took > grace+hang {
		t.Errorf("SIGKILL %v after SIGTERM, want at graceful_timeout %v", took, grace)
	}
}

// Under systemd: RELOADING=1 before the exec and READY=1 from the new
// image, both from poold's one pid (MAINPID), which kept NOTIFY_SOCKET
// across the exec without handing it to any worker.
func TestUpgradeNotifiesSystemd(t *testing.T) {
	t.Parallel()
	sock, msgs := systemdSocket(t)
	p := startUpgradable(t, fmt.Sprintf(upgradeConfig, 2), "NOTIFY_SOCKET="+sock)
	pid := p.cmd.Process.Pid
	next(t, msgs, pid, "READY=1")
	before := p.pids("web")
	if err := p.cmd.Process.Signal(syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	next(t, msgs, pid, "RELOADING=1")
	next(t, msgs, pid, "READY=1")
	if o := p.outcome(); o["state"] != "upgraded" {
		t.Fatalf("upgrade_status: %v", o)
	}
	if got := p.pids("web"); !slices.Equal(got, before) {
		t.Errorf("pids %v, want %v", got, before)
	}
	// A worker started by the new image does not get the socket either.
	if r := p.do("incr", map[string]any{"name": "web"}); r["status"] != "ok" {
		t.Fatalf("incr: %v", r)
	}
	proctest.Eventually(t, "3 workers", func() bool { return len(p.pids("web")) == 3 })
	for _, w := range p.pids("web") {
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", w))
		if err != nil {
			t.Fatal(err)
		}
		for _, kv := range strings.Split(string(env), "\x00") {
			if strings.HasPrefix(kv, "NOTIFY_SOCKET=") || strings.HasPrefix(kv, upgrade.EnvFDs) || strings.HasPrefix(kv, upgrade.EnvRollback) {
				t.Errorf("worker %d has %s in its environment", w, kv)
			}
		}
	}
}

// TestUpgradeKeepsRunTimeChangesThroughReload: the new image knows what
// the config file said, not only what runs, so a reload after an upgrade
// still keeps a run-time incr of a watcher whose section did not change.
func TestUpgradeKeepsRunTimeChangesThroughReload(t *testing.T) {
	t.Parallel()
	p := startUpgradable(t, fmt.Sprintf(upgradeConfig, 1))
	p.do("incr", map[string]any{"name": "web", "nb": 2, "waiting": true})
	if o, refused := p.upgrade(); refused != nil || o["state"] != "upgraded" {
		t.Fatalf("upgrade: %v %v", o, refused)
	}
	r := p.do("reloadconfig", map[string]any{"waiting": true})
	if r["status"] != "ok" || fmt.Sprint(r["unchanged"]) != "[web]" {
		t.Errorf("reloadconfig after the upgrade: %v, want web unchanged", r)
	}
	if n := p.do("numprocesses", map[string]any{"name": "web"})["numprocesses"]; n != 3.0 {
		t.Errorf("numprocesses %v after the reload, want the run-time 3", n)
	}
}
