package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/poold/poold/watcher/proctest"
)

// orphanScript leaves 20 orphans that end 100 ms later, then idles.
const orphanScript = `#!/bin/sh
i=0
while [ $i -lt 20 ]; do sh -c 'sleep 0.1 & exit 0'; i=$((i+1)); done
echo orphans left
exec sleep 1000
`

// exiterScript leaves an orphan and exits 7.
const exiterScript = `#!/bin/sh
sh -c 'sleep 0.1 & exit 0'
exit 7
`

const pid1Config = `
[arbiter]
ENDPOINTS
log_level = "debug"

[watchers.orphans]
cmd = %q

[watchers.exiter]
cmd = %q
backoff_min = "50ms"
backoff_max = "50ms"
flapping_attempts = 0
`

// As PID 1 of a new pid namespace (a container's entrypoint), poold
// reaps every orphan its workers leave, keeps its workers' exit statuses
// exact, and exits 0 on SIGTERM.
func TestPID1ReapsOrphans(t *testing.T) {
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no unshare (util-linux): %v", err)
		}
		t.Skip("no unshare")
	}
	dir := t.TempDir()
	orphans, exiter := filepath.Join(dir, "orphans.sh"), filepath.Join(dir, "exiter.sh")
	for path, text := range map[string]string{orphans: orphanScript, exiter: exiterScript} {
		if err := os.WriteFile(path, []byte(text), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	p := startPooldUnder(t, []string{unshare, "--pid", "--fork", "--mount-proc", "--kill-child"}, dir,
		fmt.Sprintf(pid1Config, orphans, exiter), nil)
	p.waitLog(`poold started: pid=1 `, 1)
	poold := childOf(t, p.cmd.Process.Pid)
	t.Cleanup(func() { _ = syscall.Kill(poold, syscall.SIGKILL) })
	p.waitLog(`orphans left`, 1)
	// Exact statuses, though orphans are reaped all the while (the
	// reason goes on when the orphan was still running: poold killed it).
	p.waitLog(`reason="exited with status 7[",]`, 3)
	proctest.Eventually(t, "no zombie child of poold", func() bool {
		z := zombiesOf(poold)
		return len(z) == 0
	})
	if strings.Contains(p.log.String(), "lost track of a worker") {
		t.Fatalf("a worker's exit status was taken by the orphan reaper:\n%s", p.log.String())
	}
	if err := syscall.Kill(poold, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(); code != 0 {
		t.Fatalf("poold as PID 1 exited %d after SIGTERM, want 0", code)
	}
}

// childOf finds the only child of pid (unshare's: poold).
func childOf(t *testing.T, pid int) int {
	t.Helper()
	var kids []int
	proctest.Eventually(t, fmt.Sprintf("a child of %d", pid), func() bool {
		kids = childrenByStat(pid, false)
		return len(kids) == 1
	})
	return kids[0]
}

func zombiesOf(pid int) []int { return childrenByStat(pid, true) }

// childrenByStat lists the children of pid from /proc, only zombies if asked.
func childrenByStat(pid int, zombies bool) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 2 {
			continue
		}
		if ppid, _ := strconv.Atoi(f[1]); ppid == pid && (!zombies || f[0] == "Z") {
			out = append(out, n)
		}
	}
	return out
}

// As PID 1 of a pid namespace whose /proc was not mounted for it
// (unshare --pid --fork without --mount-proc), poold reads other
// processes under its workers' pids: every worker of a watcher with
// sockets stayed "starting" for 10 s (readiness spawn never saw it
// accept) with nothing in the log but "not seen waiting for connections",
// and stats were of strangers. poold now says so at start, and how to
// mend it.
func TestPID1WithoutItsProcSaysSo(t *testing.T) {
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Fatalf("no unshare (util-linux): %v", err)
	}
	p := startPooldUnder(t, []string{unshare, "--pid", "--fork", "--kill-child"}, t.TempDir(),
		"\n[arbiter]\nENDPOINTS\n[watchers.w]\ncmd = \"/bin/sleep\"\nargs = [\"3600\"]\n", nil)
	p.waitLog(`poold started: pid=1 `, 1)
	poold := childOf(t, p.cmd.Process.Pid)
	t.Cleanup(func() { _ = syscall.Kill(poold, syscall.SIGKILL) })
	p.waitLog(`poold cannot read its workers in /proc: .*mount a /proc for poold's pid namespace.*/proc is of another pid namespace`, 1)
	if err := syscall.Kill(poold, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(); code != 0 {
		t.Fatalf("poold exited %d after SIGTERM, want 0", code)
	}
}
