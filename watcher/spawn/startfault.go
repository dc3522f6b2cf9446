package spawn

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/poold/poold/watcher/launch"
)

// How a failed start names what is at fault. The fork tells only an
// errno, which reads as the program's: these look at the worker's
// directories, and name the exec step by what it is. (A step that could
// tell more writes it on its exec status pipe, execstatus.go.)

// startError names the worker and what is at fault: the working_dir or
// chroot when the fork's chdir or chroot failed (the fork tells only the
// errno, which reads as the program's), else the exec step by name (the
// stub's path, /proc/self/fd/K, means nothing to a user), and for EAGAIN
// the limits that cause it.
func startError(spec ProcSpec, step string, err error) error {
	worker := spec.Path
	if fault := dirFault(spec, err); fault != nil {
		return fmt.Errorf("start %s: %w", worker, fault)
	}
	if step == worker {
		err = &os.PathError{Op: "fork/exec", Path: worker, Err: err}
	} else {
		err = fmt.Errorf("fork/exec %s through %s: %w", worker, step, err)
	}
	if errors.Is(err, syscall.EAGAIN) {
		return fmt.Errorf("start %s: %w (is the pids limit of poold's cgroup, pids.max, "+
			"or the user's RLIMIT_NPROC reached? raise it or run fewer workers)", worker, err)
	}
	return fmt.Errorf("start %s: %w", worker, err)
}

// dirFault names the chroot or working_dir of spec, and what to do, when
// a fork that failed with err could not have entered it: it is missing,
// no directory, or (EACCES) one the worker's user may not enter. nil
// when they are fine (then the program is at fault).
func dirFault(spec ProcSpec, err error) error {
	switch {
	case errors.Is(err, syscall.EACCES):
		// The chroot is entered as poold's user, the working_dir as the
		// worker's, after the credential is set.
		if spec.Dir == "" {
			return nil
		}
		if fault := launch.Enterable(spec.Chroot, spec.Dir, spec.Credential); fault != nil {
			return fmt.Errorf("%w (%w)", fault, err)
		}
		return nil
	case !errors.Is(err, syscall.ENOENT) && !errors.Is(err, syscall.ENOTDIR):
		return nil
	}
	if spec.Chroot != "" && !isDir(spec.Chroot) {
		return fmt.Errorf("chroot %s: %w (create it, or set another chroot and reload)", spec.Chroot, err)
	}
	if spec.Dir == "" {
		return nil
	}
	dir, where := spec.Dir, "working_dir "+spec.Dir
	if spec.Chroot != "" {
		dir, where = filepath.Join(spec.Chroot, spec.Dir), "working_dir "+spec.Dir+" inside chroot "+spec.Chroot
	}
	if isDir(dir) {
		return nil
	}
	return fmt.Errorf("%s: %w (create it again, or set another working_dir and reload)", where, err)
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

// stepName is how a start error names the program the fork exec'd, path:
// the worker's own, the shell, or poold's stub or shim.
func stepName(path string, viaStub, viaShim bool) string {
	switch {
	case viaStub:
		return "poold's exec stub"
	case viaShim:
		return "poold's exec shim (" + path + ")"
	}
	return path
}
