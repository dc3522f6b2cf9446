package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// The binary an upgrade execs is the very file its pre-flight checked:
// the pre-flight opens the path once and runs that open file for each of
// its checks, and the exec runs it too, each naming it as it begins (by
// its path while the path names it, else through /proc/PID/fd/N): never
// whatever the path names by then. A window of microseconds stays
// between that look and the kernel's lookup of the path. A binary installed at the path meanwhile (by a rename: another inode)
// waits for the next upgrade; one written in place since the pre-flight
// (a copy in progress, a half-written file) is refused before the exec.
// What the pre-flight's binary said it takes over (its "takes" line:
// the control connections, the casts) is then true of the image the exec
// starts: an older build put at the path after the pre-flight is never
// handed connections it would leave open and unread.

// checkedExe is the binary the last pre-flight checked, kept open.
type checkedExe struct {
	mu    sync.Mutex
	f     *os.File
	path  string
	st    unix.Stat_t
	takes string // its --upgrade-check output
	// inputs and version: the last pre-flight of f passed on inputs
	// (checkInputs), saying version (see upgradeonce.go).
	inputs, version string
}

var checked checkedExe

// open opens path for a pre-flight, in place of the last one, and
// returns the path that runs that open file.
func (c *checkedExe) open(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("pre-flight %s: %w%s", path, err, startHint(err))
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		f.Close()
		return "", fmt.Errorf("pre-flight %s: fstat: %w", path, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.f != nil {
		c.f.Close()
	}
	c.f, c.path, c.st, c.takes, c.inputs, c.version = f, path, st, "", "", ""
	return c.runPathLocked(), nil
}

// runPath is the path that runs the checked file now: for each run of
// the pre-flight in turn, so that a file installed at the path between
// two of them (a second deploy) does not get the second check in place
// of the file the first one checked.
func (c *checkedExe) runPath() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.runPathLocked()
}

func (c *checkedExe) runPathLocked() string {
	if c.f == nil {
		return c.path
	}
	if holds(c.path, c.st) {
		return c.path
	}
	return "/proc/" + strconv.Itoa(os.Getpid()) + "/fd/" + strconv.Itoa(int(c.f.Fd()))
}

// holds reports whether path still names the file whose fstat is st.
// Run by its path, a binary keeps its name (the kernel names the process
// after the path's last element: by /proc/PID/fd/N it would be "N", and
// a build that does not rename itself back, any before this one, stays
// so: pgrep -x, ps -C and killall lose it), and a wrapper script that
// finds its files next to "$0" finds them. Only when the path names
// another file now (installed meanwhile) does the exec go by the fd.
func holds(path string, st unix.Stat_t) bool {
	var now unix.Stat_t
	return unix.Stat(path, &now) == nil && now.Dev == st.Dev && now.Ino == st.Ino
}

// said records what the checked binary's --upgrade-check printed.
func (c *checkedExe) said(out string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.takes = out
}

// takes reports whether the checked binary takes word over.
func (c *checkedExe) takesOver(word string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.f != nil && takes(c.takes, word)
}

// verify says why the checked file cannot be exec'd: none ran, or it was
// written to since its pre-flight. runPath then names it for the exec.
func (c *checkedExe) verify() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.f == nil {
		return fmt.Errorf("upgrade: no pre-flight checked the binary at %s; run the upgrade again", selfExe)
	}
	fd := int(c.f.Fd())
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("upgrade: the checked binary %s: fstat: %w", c.path, err)
	}
	// Its ctime changes with a rename too (the file moved away, or
	// another renamed over its path), which leaves it as it was checked:
	// a write changes its mtime.
	if st.Size != c.st.Size || st.Mtim != c.st.Mtim {
		return fmt.Errorf("upgrade: the binary %s was written to after its pre-flight (%d bytes then, %d now, modified %s): "+
			"it is not the file checked; let the install finish (write beside it, then rename over it) and upgrade again",
			c.path, c.st.Size, st.Size, time.Unix(st.Mtim.Unix()).Format(time.RFC3339Nano))
	}
	return nil
}

// execPath is runPath for the exec. A script run through its fd (the
// path names another file by then) is opened by its interpreter after
// the exec, as /dev/fd/N: only then is the fd kept open across it, and
// the new image holds it (close-on-exec, see sockets) until its next
// upgrade. Run by its path, as it mostly is, it is not: the new image
// would otherwise keep the script open for nothing, one fd pinning a
// file a later deploy replaces.
func (c *checkedExe) execPath() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	path := c.runPathLocked()
	if c.f != nil && path != c.path && isScript(c.f) {
		_, _ = unix.FcntlInt(c.f.Fd(), unix.F_SETFD, 0) // only EBADF fails it, and c.f is open
	}
	return path
}

// close closes the checked file: its upgrade is over (refused, or its
// exec failed); the next pre-flight opens the path again.
func (c *checkedExe) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.f != nil {
		c.f.Close()
	}
	c.f, c.path, c.takes, c.inputs, c.version = nil, "", "", "", ""
}

// isScript reports whether f begins with "#!".
func isScript(f *os.File) bool {
	b := make([]byte, 2)
	n, _ := f.ReadAt(b, 0)
	return bytes.Equal(b[:n], []byte("#!"))
}
