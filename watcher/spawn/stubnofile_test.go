package spawn

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestStubKeptWhenFdsRunOut: a start through the stub that fails because
// poold's fds are used up (RLIMIT_NOFILE, as `ulimit -n 64` with 100
// workers gave) is no fault of the stub. The spawner kept it then only if
// the retry through /bin/sh failed too; when another goroutine had closed
// an fd in between, the retry worked and poold gave up the stub for good,
// warning of "a noexec or seccomp policy". Here the fds run out for real,
// the start fails, and the stub must stay, without a warning, and start
// the next worker once fds are free again.
func TestStubKeptWhenFdsRunOut(t *testing.T) {
	needStub(t)
	// The error as the spawner's start returns it (os.StartProcess's).
	for _, errno := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE} {
		err := &os.PathError{Op: "fork/exec", Path: "/proc/self/fd/4", Err: errno}
		if stubMayBeAtFault(err) {
			t.Errorf("a start through the stub that failed with %v counts as the stub's fault", errno)
		}
	}
	var w warnings
	s := New(self(t))
	s.SetWarn(w.warn)
	r := runSpawnerOf(t, s)
	spec := ProcSpec{Umask: 0o027, Listen: true}
	if got := step(s, withSelf(t, spec)); got != "stub" {
		t.Fatalf("exec step %s, want stub", got)
	}
	held := useUpFds(t)
	p, err := s.Start(withSelf(t, spec))
	for _, f := range held {
		f.Close()
	}
	if err == nil {
		killWait(p)
		t.Fatal("Start succeeded with no fd left")
	}
	if !errors.Is(err, syscall.EMFILE) {
		t.Fatalf("Start with no fd left: %v, want EMFILE", err)
	}
	if s.stub.Load() == nil || len(w.list()) != 0 {
		t.Fatalf("running out of fds dropped the stub (warnings %q)", w.list())
	}
	c := start(t, r.Spawner, "exit", spec)
	if ex := c.wait(t); ex != (Exit{}) {
		t.Fatalf("start once fds were free: %v; stderr %q", ex, c.stderrText(t))
	}
	if got := step(s, withSelf(t, spec)); got != "stub" {
		t.Errorf("exec step %s once fds were free, want stub", got)
	}
}

// useUpFds lowers this process's open-file limit to just above the fds it
// has and opens files until none is left; the limit is restored when the
// test ends, and the caller closes what it returns.
func useUpFds(t *testing.T) []*os.File {
	t.Helper()
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	low := old
	low.Cur = uint64(len(fds) + 16)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old) })
	var held []*os.File
	for {
		f, err := os.Open(os.DevNull)
		if err != nil {
			if !errors.Is(err, syscall.EMFILE) {
				t.Fatalf("open: %v", err)
			}
			return held
		}
		held = append(held, f)
	}
}

// TestStubKeptWhenItsProbeCannotFork: a start through the stub that fails
// by the worker's own fault (its working_dir is gone) makes the spawner
// probe whether the stub runs at all. When that probe's fork failed for
// want of pids, memory or fds (pids.max reached between the two forks),
// the spawner took it for a stub that cannot run: the retry through the
// shim, which does not chdir, forked, and poold gave up the stub for
// good. The probe's fork fails here with each such errno; the start must
// fail with the worker's error, and the stub stay, with no warning.
func TestStubKeptWhenItsProbeCannotFork(t *testing.T) {
	needStub(t)
	var w warnings
	s := New(self(t))
	s.SetWarn(w.warn)
	var failWith atomic.Uintptr // the probe's errno; 0: fork for real
	var probes atomic.Int32
	s.startProcess = func(path string, argv []string, attr *syscall.ProcAttr) (int, uintptr, error) {
		if errno := syscall.Errno(failWith.Load()); errno != 0 && slices.Equal(argv, []string{"poold-exec-stub"}) {
			probes.Add(1)
			return 0, 0, errno
		}
		return syscall.StartProcess(path, argv, attr)
	}
	r := runSpawnerOf(t, s)
	dir := t.TempDir()
	spec := withSelf(t, ProcSpec{Umask: -1, Dir: filepath.Join(dir, "gone"),
		Rlimits: map[int]uint64{unix.RLIMIT_NOFILE: 200}}) // the next step: the shim
	if got := step(s, spec); got != "stub" {
		t.Fatalf("exec step %s, want stub", got)
	}
	for i, errno := range []syscall.Errno{syscall.EAGAIN, syscall.ENOMEM, syscall.EMFILE} {
		failWith.Store(uintptr(errno))
		p, err := s.Start(spec)
		failWith.Store(0)
		if err == nil {
			killWait(p)
			t.Fatalf("%v: Start in a missing working_dir succeeded", errno)
		}
		if !errors.Is(err, syscall.ENOENT) {
			t.Errorf("%v: Start in a missing working_dir: %v, want ENOENT", errno, err)
		}
		if probes.Load() != int32(i+1) {
			t.Fatalf("%v: %d probes of the stub, want %d", errno, probes.Load(), i+1)
		}
		if s.stub.Load() == nil || len(w.list()) != 0 {
			t.Fatalf("a probe that failed with %v dropped the stub (warnings %q)", errno, w.list())
		}
	}
	spec.Dir = dir
	c := start(t, r.Spawner, "exit", spec)
	if ex := c.wait(t); ex != (Exit{}) {
		t.Fatalf("start in an existing working_dir: %v; stderr %q", ex, c.stderrText(t))
	}
	if got := step(s, spec); got != "stub" {
		t.Errorf("exec step %s at the end, want stub", got)
	}
}
