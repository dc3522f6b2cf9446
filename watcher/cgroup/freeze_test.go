package cgroup

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/watcher/proctest"
)

// A worker whose cgroup was frozen from outside (cgroup.freeze) shows as
// asleep in /proc and takes no caught signal, SIGCONT included, until it
// is thawed: Frozen tells it, and Thaw lets a SIGTERM sent while it was
// frozen end it at once.
func TestThawLetsAFrozenWorkerEnd(t *testing.T) {
	tr := openTree(t, testName(t))
	g, err := tr.NewGroup("w", 1, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Kill(); _ = g.WaitEmpty(10 * time.Second); _ = g.Remove() })
	ready := filepath.Join(t.TempDir(), "ready")
	cmd := startIn(t, g, `trap 'exit 7' TERM; touch `+ready+`; while :; do sleep 1; done`)
	g.CloseFD()
	proctest.Eventually(t, "the worker's trap in place", func() bool { _, err := os.Stat(ready); return err == nil })
	if Frozen(g.Dir) {
		t.Fatal("Frozen says a running cgroup is frozen")
	}
	if err := os.WriteFile(filepath.Join(g.Dir, "cgroup.freeze"), []byte("1"), 0); err != nil {
		t.Fatal(err)
	}
	proctest.Eventually(t, "cgroup.events says frozen 1", func() bool { return Frozen(g.Dir) })
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGCONT) // no help: a frozen task takes no signal but SIGKILL
	if err := g.Thaw(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 7 {
			t.Errorf("the thawed worker ended with %v, want its trap's exit 7", err)
		}
	case <-time.After(time.Minute): // a bound that catches a hang only
		t.Fatal("the worker did not end within a minute of its thaw: still frozen")
	}
	if Frozen(g.Dir) {
		t.Error("Frozen still says frozen after Thaw")
	}
	if err := (&Group{Dir: filepath.Join(g.Dir, "gone")}).Thaw(); err != nil {
		t.Errorf("Thaw of a cgroup that is gone: %v, want nil", err)
	}
}

// BenchmarkFrozen is what showing a frozen worker in a stats reply would
// add for each worker /proc shows asleep (one read of its cgroup.events;
// left out for that cost), and what the stop's thaw costs.
func BenchmarkFrozen(b *testing.B) {
	tr, _, err := Open(TreePrefix+"bench-frozen", 0)
	if err != nil {
		b.Skipf("no cgroup tree here: %v", err)
	}
	defer tr.Close()
	g, err := tr.NewGroup("bench", 1, Limits{})
	if err != nil {
		b.Fatal(err)
	}
	defer g.Remove()
	g.CloseFD()
	b.Run("Frozen", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = Frozen(g.Dir)
		}
	})
	b.Run("Thaw", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = g.Thaw()
		}
	})
}

// Thaw writes cgroup.freeze only when the cgroup asked to be frozen: a
// stop thaws each worker it stops, and a write takes the kernel's
// cgroup_mutex even when it changes nothing, where the rmdirs of the
// workers that already ended hold it. A plain file stands for the
// cgroup's here, so that what Thaw wrote shows.
func TestThawWritesOnlyAFrozenCgroup(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{in: "0\n", want: "0\n"},
		{in: "1\n", want: "0\n"},
	} {
		dir := t.TempDir()
		path := filepath.Join(dir, "cgroup.freeze")
		if err := os.WriteFile(path, []byte(tc.in), 0o644); err != nil {
			t.Fatal(err)
		}
		old := time.Unix(1_000_000_000, 0)
		if err := os.Chtimes(path, old, old); err != nil {
			t.Fatal(err)
		}
		if err := (&Group{Dir: dir}).Thaw(); err != nil {
			t.Fatalf("cgroup.freeze %q: Thaw: %v", tc.in, err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		wrote := !fi.ModTime().Equal(old)
		if string(b) != tc.want || wrote != (tc.in != "0\n") {
			t.Errorf("cgroup.freeze %q: after Thaw %q (written: %v), want %q written only when it was not 0", tc.in, b, wrote, tc.want)
		}
	}
}
