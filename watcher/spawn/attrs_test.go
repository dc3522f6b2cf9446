package spawn

import (
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// reportAttrs is the "attrs" worker: it prints, first thing, the
// RLIMIT_NOFILE, nice and oom_score_adj it was started with.
func reportAttrs() int {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		fmt.Println("getrlimit:", err)
		return 1
	}
	prio, err := unix.Getpriority(unix.PRIO_PROCESS, 0)
	if err != nil {
		fmt.Println("getpriority:", err)
		return 1
	}
	oom, err := os.ReadFile("/proc/self/oom_score_adj")
	if err != nil {
		fmt.Println("oom_score_adj:", err)
		return 1
	}
	// The raw getpriority is 20 - nice.
	fmt.Printf("nofile %d/%d nice %d oom %s\n", lim.Cur, lim.Max, 20-prio, strings.TrimSpace(string(oom)))
	return 0
}

// TestAttrsInPlaceAtExec: rlimits, nice and oom_score_adj set from
// outside while the exec stub waits are the worker's from its first
// instruction, as the shim's are: the worker reads them itself.
func TestAttrsInPlaceAtExec(t *testing.T) {
	nice, oom := 7, 321
	spec := ProcSpec{Path: self(t), Argv: []string{"spawn.test"}, Env: []string{childEnv + "=attrs"}, Umask: -1,
		Rlimits: map[int]uint64{unix.RLIMIT_NOFILE: 123}, Nice: &nice, OOMScoreAdj: &oom}
	const want = "nofile 123/123 nice 7 oom 321\n"
	for _, noStub := range []bool{false, true} {
		s := runSpawnerWith(t, "", noStub)
		wantStep := map[bool]string{false: "stub", true: "shim"}[noStub]
		if got := step(s.Spawner, spec); got != wantStep {
			t.Fatalf("exec step %s, want %s", got, wantStep)
		}
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		spec.Stdout = w
		p, err := s.Start(spec)
		w.Close()
		if err != nil {
			r.Close()
			t.Fatalf("%s: %v", wantStep, err)
		}
		out, err := io.ReadAll(r) // to the worker's exit
		r.Close()
		if ex, werr := p.Wait(); err != nil || werr != nil || ex != (Exit{}) {
			t.Errorf("%s: worker ended %v, %v; its output: %v", wantStep, ex, werr, err)
		}
		if got := string(out); got != want {
			t.Errorf("%s: the worker saw %q, want %q", wantStep, got, want)
		}
	}
}

// TestAttrsOfAnotherUsersWorker: for a worker running as another user,
// the stub is used only where poold may set its attributes from outside
// (CAP_SYS_RESOURCE, CAP_SYS_NICE: a container's root often lacks the
// first); else the shim sets them before the change of user. Either way
// the worker starts with them.
func TestAttrsOfAnotherUsersWorker(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs root (the worker runs as nobody); CI runs the suite as root")
		}
		t.Skip("needs root: the worker runs as nobody")
	}
	nice, oom := 6, 345
	spec := ProcSpec{Path: "/bin/sh", Argv: []string{"sh", "-c", `ulimit -n; nice; cat /proc/self/oom_score_adj`},
		Umask: -1, Rlimits: map[int]uint64{unix.RLIMIT_NOFILE: 77}, Nice: &nice, OOMScoreAdj: &oom,
		Credential: &syscall.Credential{Uid: 65534, Gid: 65534, NoSetGroups: true}}
	s := runSpawner(t, "")
	wantStep := "shim"
	if mayActOnOthers() {
		wantStep = "stub"
	}
	if got := step(s.Spawner, spec); got != wantStep {
		t.Fatalf("exec step %s, want %s (CAP_SYS_RESOURCE, CAP_SYS_NICE: %v)", got, wantStep, mayActOnOthers())
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	spec.Stdout = w
	p, err := s.Start(spec)
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(r)
	if ex, werr := p.Wait(); err != nil || werr != nil || ex != (Exit{}) {
		t.Errorf("worker ended %v, %v; its output: %v", ex, werr, err)
	}
	if got, want := string(out), "77\n6\n345\n"; got != want {
		t.Errorf("the worker saw %q, want %q", got, want)
	}
}

// TestWorkersFaultKeepsTheStub: a start through the stub with rlimits
// that failed at the fork for the worker's own reason (its working_dir
// gone, as during a deploy) was retried through the shim, whose fork
// does not change directory and so started: poold took the stub for what
// could not run, and sent every later worker through the shim or
// /bin/sh until restarted (r49b review). The stub stays.
func TestWorkersFaultKeepsTheStub(t *testing.T) {
	s := runSpawner(t, "")
	spec := ProcSpec{Path: "/bin/true", Argv: []string{"true"}, Umask: -1, Dir: "/nonexistent/app",
		Rlimits: map[int]uint64{unix.RLIMIT_NOFILE: 100}}
	if got := step(s.Spawner, spec); got != "stub" {
		t.Fatalf("exec step %s, want stub", got)
	}
	if p, err := s.Start(spec); err == nil {
		_, _ = p.Wait()
		t.Fatal("a start in a missing working_dir succeeded")
	}
	if s.stub.Load() == nil {
		t.Fatal("the stub was given up for a start that failed for the worker's own reason")
	}
	spec.Dir = ""
	if got := step(s.Spawner, spec); got != "stub" {
		t.Errorf("exec step of the next worker %s, want stub", got)
	}
}
