package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/arbiter/controller/ctlclient"
	"github.com/poold/poold/watcher/proctest"
	"golang.org/x/sys/unix"
)

// heldWithConn is poold held in its hand-over (envTestHoldOld) with a
// control connection open from before the upgrade, and the inode of the
// binary its pre-flight checked (installed just before: a file no
// process runs), and how many fds poold had before the upgrade.
func heldWithConn(t *testing.T) (p *upProc, c *ctlclient.Client, checkedIno uint64, fds int, release func()) {
	hold := filepath.Join(t.TempDir(), "hold")
	p = startUpgradable(t, fmt.Sprintf(upgradeConfig, 1), envTestHoldOld+"="+hold)
	proctest.Eventually(t, "1 worker", func() bool { return len(p.pids("web")) == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	c, err := ctlclient.DialContext(ctx, p.endpoint())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Do(ctx, arbiter.Request{Command: "status"}); err != nil {
		t.Fatal(err)
	}
	p.install(pooldBinary(t))
	var st syscall.Stat_t
	if err := syscall.Stat(p.exe, &st); err != nil {
		t.Fatal(err)
	}
	return p, c, st.Ino, openFDs(t, p.cmd.Process.Pid), holdUpgrade(t, p, hold)
}

// answers fails unless c, open since before the upgrade, is answered.
func answers(t *testing.T, c *ctlclient.Client, when string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	if _, err := c.Do(ctx, arbiter.Request{Command: "numwatchers"}); err != nil {
		t.Fatalf("the connection open before the upgrade, %s: %v", when, err)
	}
}

// The exec runs the file the pre-flight checked, not whatever is at the
// path by then. Before, it execed the path: a build installed during the
// hand-over ran unchecked, and an older one (which does not take the
// control connections) got their fds without close-on-exec and left
// their clients hanging with no reader.
func TestUpgradeExecsTheCheckedBinary(t *testing.T) {
	t.Parallel()
	p, c, checkedIno, _, release := heldWithConn(t)
	p.install(pooldBinary(t)) // another inode at the path, during the hold
	release()
	waitUpgraded(t, p)
	if got := p.exeIno(); got != checkedIno {
		l, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", p.cmd.Process.Pid))
		t.Errorf("the new image runs %s (inode %d), not the binary its pre-flight checked (inode %d)", l, got, checkedIno)
	}
	answers(t, c, "after the upgrade")
}

// A binary written to in place after its pre-flight (a copy in progress)
// is not execed: the upgrade is refused and poold goes on as it was,
// its open control connections too (thawed, their dups closed).
func TestUpgradeRefusesBinaryWrittenAfterCheck(t *testing.T) {
	t.Parallel()
	p, c, _, fds, release := heldWithConn(t)
	f, err := os.OpenFile(p.exe, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Write([]byte("half a copy"))
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	release()
	proctest.Eventually(t, "the upgrade refused", func() bool { return p.outcome()["state"] == "refused" })
	if o := p.outcome(); !contains(fmt.Sprint(o["reason"]), "written to after its pre-flight", p.exe, "rename over it") {
		t.Errorf("the refusal's reason: %v", o["reason"])
	}
	answers(t, c, "after the refused upgrade")
	fdsBack(t, p, fds, "the refused upgrade")
}

// A failed exec after the freeze (the binary busy: ETXTBSY) leaves the
// control connections with the old image, answered; no fd is left over.
func TestFailedExecKeepsControlConnections(t *testing.T) {
	t.Parallel()
	p, c, _, fds, release := heldWithConn(t)
	w, err := os.OpenFile(p.exe, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	release()
	proctest.Eventually(t, "the upgrade refused", func() bool { return p.outcome()["state"] == "refused" })
	answers(t, c, "after the failed exec")
	fdsBack(t, p, fds, "the failed exec")
	w.Close()
	out, refused := p.upgrade()
	if refused != nil || out["state"] != "upgraded" {
		t.Fatalf("the next upgrade: %v %v", out, refused)
	}
	answers(t, c, "after the next upgrade")
}

// openFDs counts pid's open fds.
func openFDs(t *testing.T, pid int) int {
	t.Helper()
	es, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

// Each run of the pre-flight runs the file it opened: a second deploy
// that renamed another binary over the path between the --upgrade-check
// and the --check had the second check run that other file, and the
// exec then run the first one, whose --check never ran (r53b-final).
// Here the first binary refuses the config and installs, during its
// --upgrade-check, one that accepts everything: the upgrade is refused.
func TestUpgradeChecksOneFileWhateverTheDeploys(t *testing.T) {
	t.Parallel()
	p := startUpgradable(t, fmt.Sprintf(upgradeConfig, 1))
	proctest.Eventually(t, "1 worker", func() bool { return len(p.pids("web")) == 1 })
	real, other := filepath.Join(p.dir, "poold.real"), filepath.Join(p.dir, "poold.other")
	p.install(pooldBinary(t))
	if err := os.Rename(p.exe, real); err != nil {
		t.Fatal(err)
	}
	write := func(path, script string) {
		if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write(other, "#!/bin/sh\nexec "+real+" \"$@\"\n")
	p.installBytes([]byte(fmt.Sprintf(`#!/bin/sh
case "$1" in
--upgrade-check) mv -f %s %s ;;
--check) echo "the first binary refuses this config" >&2; exit 1 ;;
esac
exec %s "$@"
`, other, p.exe, real)))
	o, refused := p.upgrade()
	why := fmt.Sprint(o["state"], ": ", o["reason"])
	if refused != nil {
		why = fmt.Sprint("refused: ", refused["reason"])
	}
	if !strings.HasPrefix(why, "refused") || !strings.Contains(why, "the first binary refuses") {
		t.Fatalf("upgrade with another binary installed between the pre-flight's runs: %s; want refused by the first binary's --check", why)
	}
}

// scriptFDs counts the fds of pid open on the file at path.
func scriptFDs(t *testing.T, pid int, path string) int {
	t.Helper()
	var want unix.Stat_t
	if err := unix.Stat(path, &want); err != nil {
		t.Fatal(err)
	}
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range es {
		var st unix.Stat_t
		if unix.Stat(filepath.Join(dir, e.Name()), &st) == nil && st.Dev == want.Dev && st.Ino == want.Ino {
			n++
		}
	}
	return n
}

// A #! wrapper installed at the binary's path and exec'd by that path
// leaves no fd on itself in the new image: it was kept open across the
// exec (for an interpreter that would open /dev/fd/N) whichever way the
// exec went, and the new image held it until its next upgrade.
func TestUpgradeToAScriptKeepsNoFDOnIt(t *testing.T) {
	t.Parallel()
	p := startUpgradable(t, fmt.Sprintf(upgradeConfig, 1))
	proctest.Eventually(t, "1 worker", func() bool { return len(p.pids("web")) == 1 })
	p.installBytes([]byte("#!/bin/sh\nexec " + pooldBinary(t) + " \"$@\"\n"))
	out, refused := p.upgrade()
	if refused != nil || out["state"] != "upgraded" {
		t.Fatalf("upgrade to a wrapper script: %v %v", out, refused)
	}
	if n := scriptFDs(t, p.cmd.Process.Pid, p.exe); n != 0 {
		t.Errorf("the new image has %d fd(s) open on the wrapper script %s, want none", n, p.exe)
	}
}

// A #! wrapper whose path names another file by the exec (renamed over
// during the hand-over) is exec'd through its fd, which then stays open
// across the exec for its interpreter: the upgrade runs the wrapper
// checked, not the file installed since.
func TestUpgradeRunsACheckedScriptThroughItsFD(t *testing.T) {
	t.Parallel()
	hold := filepath.Join(t.TempDir(), "hold")
	p := startUpgradable(t, fmt.Sprintf(upgradeConfig, 1), envTestHoldOld+"="+hold)
	proctest.Eventually(t, "1 worker", func() bool { return len(p.pids("web")) == 1 })
	ran := filepath.Join(p.dir, "ran")
	p.installBytes([]byte("#!/bin/sh\necho \"$1\" >> " + ran + "\nexec " + pooldBinary(t) + " \"$@\"\n"))
	release := holdUpgrade(t, p, hold)
	p.install(pooldBinary(t)) // another inode at the path, during the hold
	release()
	waitUpgraded(t, p)
	b, err := os.ReadFile(ran)
	if err != nil {
		t.Fatal(err)
	}
	// --upgrade-check, --check, then the exec with the config.
	if runs := strings.Fields(string(b)); len(runs) != 3 || runs[2] != p.cfg {
		t.Errorf("the wrapper ran with %q; want the pre-flight's two runs and the exec's", runs)
	}
}

// fdsBack waits until poold has as many fds open as before (fds): the
// client of p.outcome() has just closed its connection, and poold closes
// its end a moment later, so one count right away flaked (21 for 20).
func fdsBack(t *testing.T, p *upProc, fds int, after string) {
	t.Helper()
	now := 0
	if !proctest.Poll(hang, func() bool { now = openFDs(t, p.cmd.Process.Pid); return now == fds }) {
		t.Errorf("poold has %d fds after %s, %d before", now, after, fds)
	}
}
