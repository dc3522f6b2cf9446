package spawn

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestStartErrorsNameWhatIsAtFault: a start through the exec stub whose
// working_dir was missing failed with "fork/exec /proc/self/fd/3: no
// such file or directory", naming the stub's memfd; one too big for exec
// (E2BIG) named it too; the direct start and the shell named the program
// for a missing directory, and the shim said "chdir" twice, then hinted
// at cmd's path. Through every exec step, the error now names the
// working_dir and what to do, or the worker's program, never the stub's fd.
func TestStartErrorsNameWhatIsAtFault(t *testing.T) {
	needStub(t)
	withStub, noStub := runSpawner(t, ""), runSpawnerWith(t, "", true)
	nofile := map[int]uint64{unix.RLIMIT_NOFILE: 100}
	huge := make([]string, 0, 40)
	for range cap(huge) {
		huge = append(huge, "BIG="+strings.Repeat("x", 100_000))
	}
	const dir = "/nonexistent/app"
	for _, tc := range []struct {
		step string
		s    *Spawner
		spec ProcSpec
	}{
		{"direct", withStub.Spawner, ProcSpec{Umask: -1}},
		{"stub", withStub.Spawner, ProcSpec{Umask: 0o22, Listen: true}},
		{"stub", withStub.Spawner, ProcSpec{Umask: -1, Rlimits: nofile}},
		{"sh", noStub.Spawner, ProcSpec{Umask: 0o22, Listen: true}},
		{"shim", noStub.Spawner, ProcSpec{Umask: -1, Rlimits: nofile}},
	} {
		spec := tc.spec
		spec.Path, spec.Argv, spec.Env = "/bin/true", []string{"true"}, []string{"PATH=/usr/bin:/bin"}
		if got := step(tc.s, spec); got != tc.step {
			t.Fatalf("exec step %s, want %s", got, tc.step)
		}
		t.Run(tc.step+"/working_dir", func(t *testing.T) {
			spec := spec
			spec.Dir = dir
			err := mustFail(t, tc.s, spec)
			want := "working_dir " + dir + ": no such file or directory (create it again"
			if !strings.Contains(err.Error(), want) || !errors.Is(err, syscall.ENOENT) {
				t.Errorf("start in a missing working_dir: %v\nwant it to say %q and match ENOENT", err, want)
			}
			for _, wrong := range []string{"/proc/self/fd", "fork/exec", "cmd's path", "chdir"} {
				if strings.Contains(err.Error(), wrong) {
					t.Errorf("start in a missing working_dir: %v\nsays %q", err, wrong)
				}
			}
		})
		t.Run(tc.step+"/E2BIG", func(t *testing.T) {
			spec := spec
			spec.Env = append(spec.Env, huge...)
			err := mustFail(t, tc.s, spec)
			if !strings.Contains(err.Error(), "fork/exec /bin/true") || !errors.Is(err, syscall.E2BIG) {
				t.Errorf("start too big for exec: %v\nwant it to name /bin/true and match E2BIG", err)
			}
			if strings.Contains(err.Error(), "/proc/self/fd") {
				t.Errorf("start too big for exec: %v\nnames the stub's fd", err)
			}
		})
	}
}

// TestStartInAnUnenterableWorkingDirNamesIt: a working_dir the worker's
// user may not enter (made so after the watcher's own check) failed its
// start with "fork/exec /bin/true: permission denied", blaming the
// program. Through every exec step the error now names the working_dir,
// the user and the directory that stops it, and what to do.
func TestStartInAnUnenterableWorkingDirNamesIt(t *testing.T) {
	needStub(t)
	withStub, noStub := runSpawner(t, ""), runSpawnerWith(t, "", true)
	dir := filepath.Join(t.TempDir(), "app")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	// Only the directory itself stops the worker's user: its parents,
	// made by t.TempDir with mode 0700, are opened to it.
	for d := filepath.Dir(dir); strings.HasPrefix(d, os.TempDir()+"/"); d = filepath.Dir(d) {
		if fi, err := os.Stat(d); err == nil && fi.Mode().Perm()&0o001 == 0 {
			if err := os.Chmod(d, fi.Mode().Perm()|0o011); err != nil {
				t.Fatal(err)
			}
		}
	}
	nobody := &syscall.Credential{Uid: 65534, Gid: 65534, NoSetGroups: true}
	nofile := map[int]uint64{unix.RLIMIT_NOFILE: 100}
	for _, tc := range []struct {
		step string
		s    *Spawner
		spec ProcSpec
	}{
		{"direct", withStub.Spawner, ProcSpec{Umask: -1}},
		{"stub", withStub.Spawner, ProcSpec{Umask: 0o22, Listen: true}},
		{"sh", noStub.Spawner, ProcSpec{Umask: 0o22, Listen: true}},
		{"shim", noStub.Spawner, ProcSpec{Umask: -1, Rlimits: nofile}},
	} {
		spec := tc.spec
		spec.Path, spec.Argv, spec.Env = "/bin/true", []string{"true"}, []string{"PATH=/usr/bin:/bin"}
		spec.Credential, spec.Dir = nobody, dir
		if got := step(tc.s, spec); got != tc.step {
			t.Fatalf("exec step %s, want %s", got, tc.step)
		}
		t.Run(tc.step, func(t *testing.T) {
			err := mustFail(t, tc.s, spec)
			t.Log(err)
			// The shim names the directory itself; the fork of the
			// others tells only EACCES, and poold looks at why.
			wants := []string{"working_dir " + dir, "allow"}
			if tc.step != "shim" {
				wants = append(wants, "user nobody may not enter it", "mode 0700")
			}
			for _, want := range wants {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("start in a working_dir nobody may not enter: %v\nwant it to say %q", err, want)
				}
			}
			if !errors.Is(err, syscall.EACCES) {
				t.Errorf("%v does not match EACCES", err)
			}
			for _, wrong := range []string{"/proc/self/fd", "fork/exec", "cmd", "chdir"} {
				if strings.Contains(err.Error(), wrong) {
					t.Errorf("start in a working_dir nobody may not enter: %v\nsays %q", err, wrong)
				}
			}
		})
	}
}

// mustFail starts spec, which must fail, and returns why.
func mustFail(t *testing.T, s *Spawner, spec ProcSpec) error {
	t.Helper()
	p, err := s.Start(spec)
	if err == nil {
		killWait(p)
		t.Fatalf("start of %+v succeeded", spec)
	}
	return err
}
