package arbiter

import (
	"os/exec"
	"syscall"
	"testing"

	"github.com/poold/poold/watcher/procinfo"
	"github.com/poold/poold/watcher/proctest"
)

// readStray tells a worker's stray from a hook's, a probe's and one
// whose environment names nothing, and ofWorker from a process of an
// earlier worker of the slot, from what /proc shows of real processes.
func TestStrayOrigin(t *testing.T) {
	before := procinfo.BootTicks()
	cases := []struct {
		name   string
		env    []string
		worker bool // one of worker w wid 2 started at before
		origin string
	}{
		{"worker", []string{"POOLD_WATCHER=w", "POOLD_WID=2"}, true, ""},
		{"hook", []string{"POOLD_HOOK=after_start", "POOLD_WATCHER=w", "POOLD_WID=2", "POOLD_PID=1"}, false, `hook after_start of watcher "w"`},
		{"probe", []string{"POOLD_WATCHER=w", "POOLD_WID=2", "POOLD_PID=1"}, false, `an exec health check of watcher "w"`},
		{"no environment", []string{"PATH=/bin"}, false, "unknown: its environment has no POOLD_WATCHER and POOLD_WID (a program that replaced its environment, such as env -i)"},
		{"wid 0", []string{"POOLD_WATCHER=w", "POOLD_WID=0"}, false, "unknown: its environment has no POOLD_WATCHER and POOLD_WID (a program that replaced its environment, such as env -i)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command("sleep", "100")
			cmd.Env = c.env
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
			var s stray
			var err error
			// Start returns once the exec began; its environment is
			// there once the new image is set up.
			proctest.Eventually(t, "sleep's environment", func() bool {
				s, err = readStray(cmd.Process.Pid)
				return err != nil || !s.blank
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := s.key == (workerKey{"w", 2}) && s.ofWorker(before); got != c.worker {
				t.Errorf("a stray of worker w wid 2: %v, want %v (%+v)", got, c.worker, s)
			}
			if c.worker {
				// A process that started before the worker is an
				// earlier worker's of the slot, not this one's.
				if s.ofWorker(procinfo.BootTicks() + 1) {
					t.Errorf("a process started before the worker counts as its stray")
				}
				if s.ofWorker(0) {
					t.Errorf("a stray of a worker whose start is unknown counts")
				}
				return
			}
			if got := s.origin(); got != c.origin {
				t.Errorf("origin %q, want %q", got, c.origin)
			}
		})
	}
}

// A process that has ended (a zombie not yet reaped) is no stray.
func TestEndedIsNoStray(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	defer func() { _ = cmd.Wait() }()
	proctest.Eventually(t, "the child a zombie", func() bool { return procinfo.Gone(pid) }) // Wait reaps it only later
	if _, err := readStray(pid); err == nil {
		t.Fatalf("readStray of the zombie %d: no error", pid)
	}
}

// A stray belongs to the running worker of its name and wid that started
// before it, and to none when two did: after `rm --nostop w` and `add w`
// the old worker runs on, unmanaged, beside the new one, and a helper the
// old one forked after the new one started was taken for the new one's
// and stopped at its restart, its own worker still running.
func TestStrayOwnerIsTheWorkerBeforeIt(t *testing.T) {
	var b strayBook
	key := workerKey{"web", 1}
	b.add(strayOwner{key, 100})
	b.add(strayOwner{key, 200})
	for _, c := range []struct {
		start, want uint64
		n           int
	}{{50, 0, 0}, {150, 100, 1}, {250, 200, 2}} {
		if got, n := b.ownerSince(stray{key: key, named: true, start: c.start}); got != c.want || n != c.n {
			t.Errorf("stray started at %d: owner started at %d of %d, want %d of %d", c.start, got, n, c.want, c.n)
		}
	}
	b.remove(strayOwner{key, 200})
	if got, n := b.ownerSince(stray{key: key, named: true, start: 250}); got != 100 || n != 1 {
		t.Errorf("once the newer worker ended, owner %d of %d, want 100 of 1", got, n)
	}
	if got, n := b.ownerSince(stray{key: workerKey{"api", 1}, named: true, start: 250}); got != 0 || n != 0 {
		t.Errorf("a stray of another watcher's wid 1: owner %d of %d, want none", got, n)
	}
}

// A stray seen with a blank environment (in the middle of an exec) is
// named only when a second scan sees it so.
func TestBlankStrayNamedOnSecondSight(t *testing.T) {
	var b strayBook
	s := stray{pid: 7, start: 100, blank: true}
	if got := b.fresh([]stray{s}); len(got) != 0 {
		t.Fatalf("first sight of a blank stray named: %v", got)
	}
	if got := b.fresh([]stray{s}); len(got) != 1 {
		t.Fatalf("second sight of a blank stray: %v named, want it", got)
	}
	if got := b.fresh([]stray{s}); len(got) != 0 {
		t.Fatalf("third sight: %v named again", got)
	}
	if got := b.fresh([]stray{{pid: 8, start: 100}}); len(got) != 1 {
		t.Fatalf("first sight of a stray with an environment: %v named, want it", got)
	}
}

// What stays in a worker's process group once its leader has ended is the
// group's (groupEnded's to wait for), no stray: inWorkerGroup, from the
// worker's start (hold) until its end is handled (release). A held pgid
// whose /proc entry is a process that is no worker names a group begun
// after the worker's ended (its pid given anew).
func TestInWorkerGroup(t *testing.T) {
	dir := t.TempDir()
	leader := exec.Command("/bin/sh", "-c", `sleep 1000 & echo $! > "$0/child"`, dir)
	leader.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := leader.Run(); err != nil { // ends, leaving its child
		t.Fatal(err)
	}
	child := readPid(t, dir, "child")
	t.Cleanup(func() { _ = syscall.Kill(child, syscall.SIGKILL) })
	pgid := leader.Process.Pid
	if g, err := syscall.Getpgid(child); err != nil || g != pgid {
		t.Fatalf("child %d in process group %d (%v), want %d", child, g, err, pgid)
	}
	var b strayBook
	if b.inWorkerGroup(pgid) {
		t.Errorf("group %d counts as a worker's before any hold", pgid)
	}
	b.hold(pgid)
	b.hold(pgid) // a second worker of that pid: a new worker given the pid anew
	b.release(pgid)
	if !b.inWorkerGroup(pgid) {
		t.Errorf("group %d, its leader ended and its end not handled, does not count as a worker's", pgid)
	}
	b.release(pgid)
	if b.inWorkerGroup(pgid) {
		t.Errorf("group %d counts as a worker's after its end was handled", pgid)
	}
	other := exec.Command("sleep", "1000")
	other.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Process.Kill(); _ = other.Wait() })
	b.hold(other.Process.Pid)
	if b.inWorkerGroup(other.Process.Pid) {
		t.Errorf("group %d of a live process that is no worker counts as a worker's", other.Process.Pid)
	}
}
