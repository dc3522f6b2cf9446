package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// emptied starts a process that exits at once in g and waits until g is
// empty, as a worker's cgroup is when poold parks it.
func emptied(t *testing.T, g *Group) {
	t.Helper()
	cmd := startIn(t, g, "exit 0")
	_ = cmd.Wait()
	if err := g.WaitEmpty(10 * time.Second); err != nil {
		t.Fatal(err)
	}
}

// A parked cgroup is taken again by the next worker of its slot and its
// limits only; a worker started in it is in it.
func TestParkedGroupServesItsSlot(t *testing.T) {
	tr := openTree(t, testName(t))
	g, err := tr.NewGroup("w", 1, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	emptied(t, g)
	if err := tr.Park(g); err != nil {
		t.Fatal(err)
	}
	if g.FD() != 0 {
		t.Fatalf("a parked cgroup holds fd %d", g.FD())
	}
	other, err := tr.NewGroup("w", 2, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Remove()
	if other.Dir == g.Dir || tr.Parked() != 1 {
		t.Fatalf("slot 2 got %s (parked %d); want a new cgroup beside %s, still parked", other.Dir, tr.Parked(), g.Dir)
	}
	again, err := tr.NewGroup("w", 1, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if again.Dir != g.Dir || again.FD() <= 0 || tr.Parked() != 0 {
		t.Fatalf("slot 1 got %s, fd %d, parked %d; want %s again, open, none parked", again.Dir, again.FD(), tr.Parked(), g.Dir)
	}
	cmd := startIn(t, again, "exec sleep 1000")
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(strings.TrimSpace(string(b)), "/"+filepath.Base(g.Dir)) {
		t.Fatalf("the new worker is in %q, want %s", b, g.Dir)
	}
	_ = again.Kill()
	_ = cmd.Wait()
	if err := again.WaitEmpty(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := again.Remove(); err != nil {
		t.Fatal(err)
	}
}

// Expire removes what waited longer than its age; Close removes what is
// still parked, and the tree with it; a cgroup parked after Close is
// removed at once.
func TestParkedGroupsExpireAndCloseWithTheTree(t *testing.T) {
	tr := openTree(t, testName(t))
	var gs []*Group
	for wid := 1; wid <= 2; wid++ {
		g, err := tr.NewGroup("w", wid, Limits{})
		if err != nil {
			t.Fatal(err)
		}
		emptied(t, g)
		gs = append(gs, g)
	}
	if err := tr.Park(gs[0]); err != nil {
		t.Fatal(err)
	}
	if n := tr.Expire(time.Hour); n != 0 || tr.Parked() != 1 {
		t.Fatalf("Expire(1h) removed %d, %d parked; want 0, 1", n, tr.Parked())
	}
	if n := tr.Expire(0); n != 1 || exists(gs[0].Dir) {
		t.Fatalf("Expire(0) removed %d; %s there: %v", n, gs[0].Dir, exists(gs[0].Dir))
	}
	if err := tr.Park(gs[1]); err != nil {
		t.Fatal(err)
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if exists(gs[1].Dir) || exists(tr.Dir) {
		t.Fatalf("after Close: parked %s there %v, tree there %v", gs[1].Dir, exists(gs[1].Dir), exists(tr.Dir))
	}
	late := &Group{Dir: filepath.Join(t.TempDir(), "w-w.3.3")}
	if err := os.Mkdir(late.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := tr.Park(late); err != nil || exists(late.Dir) || tr.Parked() != 0 {
		t.Fatalf("parked after Close: %v; %s there %v, %d parked", err, late.Dir, exists(late.Dir), tr.Parked())
	}
}

// A new image of poold removes the cgroups its predecessor parked, and
// leaves the handed-over workers' cgroups.
func TestAdoptedTreeDropsParkedGroups(t *testing.T) {
	tr := openTree(t, testName(t))
	live, err := tr.NewGroup("w", 1, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	cmd := startIn(t, live, "exec sleep 1000")
	parked, err := tr.NewGroup("w", 2, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	emptied(t, parked)
	if err := tr.Park(parked); err != nil {
		t.Fatal(err)
	}
	adopted := &Tree{Dir: tr.Dir}
	adopted.RemoveParked([]string{live.Dir + "/"})
	if exists(parked.Dir) || !exists(live.Dir) {
		t.Fatalf("parked %s there: %v (want gone); live %s there: %v (want kept)", parked.Dir, exists(parked.Dir), live.Dir, exists(live.Dir))
	}
	_ = live.Kill()
	_ = cmd.Wait()
	if err := live.WaitEmpty(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	_ = live.Remove()
}

// The OOM kills a worker's exit reports are its own, not those of the
// workers its cgroup held before it was parked.
func TestOOMKillsCountFromTheCurrentWorker(t *testing.T) {
	dir := t.TempDir()
	events := func(n string) {
		if err := os.WriteFile(filepath.Join(dir, "memory.events"), []byte("low 0\nhigh 0\nmax 9\noom 2\noom_kill "+n+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	events("2")
	g := &Group{Dir: dir}
	if n := g.OOMKills(); n != 2 {
		t.Fatalf("OOMKills = %d, want 2", n)
	}
	tr := &Tree{Dir: filepath.Dir(dir)}
	if err := tr.Park(g); err != nil {
		t.Fatal(err)
	}
	if n := g.OOMKills(); n != 0 {
		t.Fatalf("OOMKills after parking = %d, want 0", n)
	}
	events("3")
	if n := g.OOMKills(); n != 1 {
		t.Fatalf("OOMKills of the next worker = %d, want 1", n)
	}
}

// The forks a pids limit refused that a worker's exit reports are its
// own, not those of the workers its cgroup held before it was parked,
// and count its v1 pids cgroup too.
func TestPidsRefusedCountFromTheCurrentWorker(t *testing.T) {
	dir, v1 := t.TempDir(), t.TempDir()
	events := func(d, n string) {
		if err := os.WriteFile(filepath.Join(d, "pids.events"), []byte("max "+n+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	events(dir, "0")
	events(v1, "2")
	g := &Group{Dir: dir, v1: []string{v1}}
	if n := g.PidsRefused(); n != 2 {
		t.Fatalf("PidsRefused = %d, want 2", n)
	}
	tr := &Tree{Dir: filepath.Dir(dir)}
	if err := tr.Park(g); err != nil {
		t.Fatal(err)
	}
	if n := g.PidsRefused(); n != 0 {
		t.Fatalf("PidsRefused after parking = %d, want 0", n)
	}
	events(v1, "5")
	if n := g.PidsRefused(); n != 3 {
		t.Fatalf("PidsRefused of the next worker = %d, want 3", n)
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, os.ErrNotExist)
}

// A cgroup emptied through cgroup.kill is removed, not parked: Linux
// SIGKILLs what is cloned into it afterwards.
func TestKilledGroupIsNotParked(t *testing.T) {
	tr := openTree(t, testName(t))
	g, err := tr.NewGroup("w", 1, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	cmd := startIn(t, g, "exec sleep 1000")
	if err := g.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if err := g.WaitEmpty(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := tr.Park(g); err != nil {
		t.Fatal(err)
	}
	if tr.Parked() != 0 || exists(g.Dir) {
		t.Fatalf("killed cgroup %s parked (%d parked, there: %v); want it removed", g.Dir, tr.Parked(), exists(g.Dir))
	}
}
