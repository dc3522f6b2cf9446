package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/poold/poold/watcher/proctest"
)

// A deploy that installs each release in a directory of its own and
// switches a symlink to it (update-alternatives, a "current" link) then
// upgrades: poold runs the release the link names now, also after a
// rollback, and not the one it resolved at start.
func TestUpgradeFollowsTheLinkItWasStartedFrom(t *testing.T) {
	t.Parallel()
	marker := filepath.Join(t.TempDir(), "fail")
	p := newUpProc(t, "", fmt.Sprintf(upgradeConfig, 1))
	release := func(name string) string {
		t.Helper()
		b, err := os.ReadFile(pooldBinary(t))
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(p.dir, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "poold"), b, 0o755); err != nil {
			t.Fatal(err)
		}
		return filepath.Join(dir, "poold")
	}
	switchTo := func(target string) {
		t.Helper()
		tmp := p.exe + ".link"
		if err := os.Symlink(target, tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, p.exe); err != nil {
			t.Fatal(err)
		}
	}
	runs := func(want string) {
		t.Helper()
		var st syscall.Stat_t
		if err := syscall.Stat(want, &st); err != nil {
			t.Fatal(err)
		}
		if got := p.exeIno(); got != st.Ino {
			l, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", p.cmd.Process.Pid))
			t.Fatalf("poold runs %s, want %s, where %s now links to", l, want, p.exe)
		}
	}
	r1, r2, r3 := release("r1"), release("r2"), release("r3")
	switchTo(r1)
	p.start(envTestFail + "=" + marker)
	proctest.Eventually(t, "1 worker", func() bool { return len(p.pids("web")) == 1 })
	before := p.pids("web")
	runs(r1)

	switchTo(r2)
	if o, refused := p.upgrade(); refused != nil || o["state"] != "upgraded" {
		t.Fatalf("upgrade to r2: %v %v", o, refused)
	}
	runs(r2)

	// r3 fails to take over: r2 runs again, and still knows the link.
	switchTo(r3)
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if o, refused := p.upgrade(); refused != nil || o["state"] != "rolled_back" {
		t.Fatalf("upgrade to a failing r3: %v %v; want rolled_back", o, refused)
	}
	runs(r2)
	if o, refused := p.upgrade(); refused != nil || o["state"] != "upgraded" {
		t.Fatalf("upgrade to r3 after the rollback: %v %v", o, refused)
	}
	runs(r3)
	if got := p.pids("web"); !slices.Equal(got, before) {
		t.Errorf("pids %v after the upgrades, want %v", got, before)
	}
}
