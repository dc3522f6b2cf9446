package spawn

import (
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// startFails starts spec, which must fail, and returns the error and
// what the exec step wrote on the worker's stderr.
func startFails(t *testing.T, s *Spawner, spec ProcSpec) (error, string) {
	t.Helper()
	errf, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer errf.Close()
	spec.Stderr = errf
	p, err := s.Start(spec)
	if err == nil {
		killWait(p)
		t.Fatalf("Start of %s succeeded, want it to fail", spec.Path)
	}
	raw, rerr := os.ReadFile(errf.Name())
	if rerr != nil {
		t.Fatal(rerr)
	}
	return err, string(raw)
}

// TestStepExecFailureFailsStart: when the exec stub or shim cannot exec
// the worker's program, Start fails as a direct exec's would, with the
// errno, the path and what to do, rather than returning a worker that
// exits 127 at once (which a rolling change took for a started worker);
// the step still says why on the worker's stderr.
func TestStepExecFailureFailsStart(t *testing.T) {
	const missing = "/nonexistent/worker"
	type tc struct {
		name, step string
		spec       ProcSpec
		errno      syscall.Errno
		says       string
		noStub     bool
	}
	limit := map[int]uint64{unix.RLIMIT_NOFILE: 100}
	cases := []tc{
		{"stub", "stub", ProcSpec{Path: missing, Umask: -1, Listen: true}, syscall.ENOENT, "exec stub", false},
		{"stub umask", "stub", ProcSpec{Path: missing, Umask: 0o022}, syscall.ENOENT, "exec stub", false},
		{"stub rlimit", "stub", ProcSpec{Path: missing, Umask: -1, Rlimits: limit}, syscall.ENOENT, "exec stub", false},
		{"shim", "shim", ProcSpec{Path: missing, Umask: -1, Rlimits: limit}, syscall.ENOENT, "exec shim", true},
	}
	if os.Getuid() == 0 {
		// As nobody with no process allowed, the exec itself is refused
		// (RLIMIT_NPROC is checked at execve after a change of user).
		cases = append(cases, tc{"shim nproc", "shim", ProcSpec{
			Path: "/bin/true", Umask: -1, Rlimits: map[int]uint64{unix.RLIMIT_NPROC: 0},
			Credential: &syscall.Credential{Uid: 65534, Gid: 65534, NoSetGroups: true},
		}, syscall.EAGAIN, "rlimits nproc", false})
	}
	// The failure must come back through the status pipe whatever the
	// load: past execStatusWait a start counts as started (a step stalled
	// before its exec must not stall poold), and the tests' shim is this
	// race-built test binary, whose start-up takes over 2 s on a loaded
	// machine where poold's own takes 50 ms. The bound here only catches
	// a hang.
	patient := func(noStub bool) *running {
		sp := New(self(t))
		sp.stubOff, sp.statusWait = noStub, hang
		return runSpawnerOf(t, sp)
	}
	s, noStub := patient(false), patient(true)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sp := s.Spawner
			if c.noStub {
				sp = noStub.Spawner
			}
			spec := c.spec
			spec.Argv = []string{"worker"}
			if got := step(sp, spec); got != c.step {
				t.Fatalf("exec step %s, want %s", got, c.step)
			}
			err, stderr := startFails(t, sp, spec)
			if !errors.Is(err, c.errno) || !strings.Contains(err.Error(), spec.Path) ||
				!strings.Contains(err.Error(), c.says) {
				t.Errorf("error %q: want %v (%s), naming %s and %q", err, c.errno, unix.ErrnoName(c.errno), spec.Path, c.says)
			}
			if !strings.Contains(stderr, "poold-exec: ") || !strings.Contains(stderr, spec.Path) {
				t.Errorf("worker's stderr %q: want the step's reason naming %s", stderr, spec.Path)
			}
		})
	}
	// The spawner goes on, and a good worker through each step starts.
	for _, spec := range []ProcSpec{{Umask: 0o022, Listen: true}, {Umask: -1, Rlimits: map[int]uint64{unix.RLIMIT_NOFILE: 100}}} {
		c := start(t, s.Spawner, "exit", spec)
		if ex := c.wait(t); ex != (Exit{}) {
			t.Errorf("a good worker after the failures: %v", ex)
		}
	}
}

// A shim stalled before its exec (a hung mount, a stopped process) held
// Start, and so poold's loop, until it went on: every command waited
// (r48c review). Past execStatusWait the worker counts as started.
func TestStalledShimDoesNotStallStart(t *testing.T) {
	s := runSpawnerWith(t, "", true)
	spec := ProcSpec{Path: "/bin/true", Argv: []string{"true"}, Umask: -1,
		Rlimits: map[int]uint64{unix.RLIMIT_NOFILE: 100}, Env: []string{stallShimEnv + "=1"}}
	if got := step(s.Spawner, spec); got != "shim" {
		t.Fatalf("exec step %s, want shim", got)
	}
	done := make(chan struct{})
	var p *Proc
	var err error
	go func() { defer close(done); p, err = s.Start(spec) }()
	select {
	case <-done:
	case <-time.After(execStatusWait + hang):
		t.Fatalf("Start of a worker whose shim is stopped still waits after %v", execStatusWait+hang)
	}
	if err != nil {
		t.Fatalf("Start of a worker whose shim is stopped: %v, want it started", err)
	}
	killWait(p) // SIGKILL ends a stopped process too
}
