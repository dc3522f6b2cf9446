package cgroup

import (
	"fmt"
	"path/filepath"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// V1Entry is a process's own way into its v1 directories, for a Go
// process that moves itself (the spawner's exec shim): opened early,
// entered last. A pids limit counts threads, and the Go runtime starts
// one whenever it needs one (a change of user, a slow syscall, the
// garbage collector); a Go process inside a pids limit as low as its own
// thread count aborts on the first it is refused ("failed to create new
// OS thread"), or hangs. Open takes the files while the process still
// has root's rights and sees the cgroup mounts (before a chroot), Enter
// writes to them with raw syscalls, which neither allocate nor let the
// runtime hand the thread's P to another thread, right before the exec:
// the change of user and everything else that may want a thread come
// before it. The kernel checks such a write against the rights of
// whoever opened the file (Linux 5.16, and the stable kernels before it
// since CVE-2021-4197), an older one against the writer's, which the
// worker's own user passes for its own pid.
type V1Entry struct {
	dirs []string
	fds  []int
}

// OpenV1Entry opens the cgroup.procs files of dirs, close-on-exec: the
// exec that follows Enter closes them, or Close.
func OpenV1Entry(dirs []string) (*V1Entry, error) {
	e := &V1Entry{dirs: dirs}
	for _, d := range dirs {
		// No O_CREAT: a directory that is no cgroup (a tmpfs where
		// one was) gets an error rather than a new plain file.
		fd, err := unix.Open(filepath.Join(d, "cgroup.procs"), unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			e.Close()
			return nil, fmt.Errorf("open %s/cgroup.procs to join it later: %w (was the cgroup removed? "+
				"poold retries the start after its backoff; `poolctl status NAME` shows the slot)", d, err)
		}
		e.fds = append(e.fds, fd)
	}
	return e, nil
}

// Enter moves the calling process (all its threads) into the entry's
// directories; pid is its pid in decimal, formatted before (no
// allocation here). It leaves the files to the exec, which closes them
// (close is no raw syscall); after a failure it closes them.
func (e *V1Entry) Enter(pid []byte) error {
	if len(pid) == 0 {
		return nil
	}
	for i, fd := range e.fds {
		_, _, errno := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&pid[0])), uintptr(len(pid)))
		if errno != 0 {
			e.Close()
			p, _ := strconv.Atoi(string(pid))
			return joinError(p, e.dirs[i], errno)
		}
	}
	return nil
}

// Close closes the files not used yet (nil-safe).
func (e *V1Entry) Close() {
	if e == nil {
		return
	}
	for _, fd := range e.fds {
		unix.Close(fd)
	}
	e.fds = nil
}

// joinError says which move failed and what to do.
func joinError(pid int, dir string, err error) error {
	return fmt.Errorf("move pid %d into cgroup %s: %w (was the cgroup removed, or its pids limit reached? "+
		"poold retries the start after its backoff; `poolctl status NAME` shows the slot)", pid, dir, err)
}
