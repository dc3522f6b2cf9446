package arbiter

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// notifyDirPrefix starts the name of poold's notify directories in
// TMPDIR: poold-notify-PID-RANDOM, PID poold's own (an upgrade in place
// keeps it); before r67 poold-notify-RANDOM.
const notifyDirPrefix = "poold-notify-"

// makeNotifyDir makes poold's notify directory in TMPDIR, mode 0711
// (others may reach a socket whose name they know but not list them).
func makeNotifyDir() (string, error) {
	dir, err := os.MkdirTemp("", fmt.Sprintf("%s%d-", notifyDirPrefix, os.Getpid()))
	if err == nil {
		err = os.Chmod(dir, 0o711)
	}
	return dir, err
}

// removeStaleNotifyDirs removes from tmp the notify directories that a
// poold no longer running left (killed or crashed: a stop removes its
// own), each two inodes a socket, for ever: a TMPDIR that fills up with
// them stops the next start. A directory goes only when poold's user
// owns it, its name is poold's and names a pid, that poold is gone, and
// the directory holds nothing but sockets nobody listens on (connect
// refused): never a live poold's, whose sockets answer, even while an
// upgrade in place rebinds them (its pid lives on). A directory of the
// older form names no pid: its poold may be upgrading in place, its
// sockets refused for that moment, so it stays. It returns what it
// removed.
func removeStaleNotifyDirs(tmp string) (removed []string) {
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return nil
	}
	for _, e := range entries {
		pid, ok := notifyDirPid(e.Name())
		if !ok || pid == 0 || !e.IsDir() {
			continue
		}
		dir := filepath.Join(tmp, e.Name())
		if staleNotifyDir(dir, pid) && os.RemoveAll(dir) == nil {
			removed = append(removed, dir)
		}
	}
	return removed
}

// notifyDirPid parses a notify directory's name: the pid it names, 0 in
// the older form without one; ok is false for any other name.
func notifyDirPid(name string) (pid int, ok bool) {
	rest, ok := strings.CutPrefix(name, notifyDirPrefix)
	if !ok {
		return 0, false
	}
	first, random, withPid := strings.Cut(rest, "-")
	if !digits(first) || (withPid && !digits(random)) {
		return 0, false
	}
	if !withPid {
		return 0, true
	}
	pid, err := strconv.Atoi(first)
	return pid, err == nil && pid > 0
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// staleNotifyDir tells whether dir, a notify directory of the poold
// with pid, is a gone poold's.
func staleNotifyDir(dir string, pid int) bool {
	var st unix.Stat_t
	if unix.Lstat(dir, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR || int(st.Uid) != os.Geteuid() {
		return false
	}
	if pid <= 0 || pid == os.Getpid() || processAlive(pid) {
		return false
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) == 0 {
		return false // empty: maybe a live poold's between mkdir and bind
	}
	for _, e := range entries {
		if e.Type() != fs.ModeSocket || !nobodyListens(filepath.Join(dir, e.Name())) {
			return false
		}
	}
	return true
}

// processAlive tells whether a process pid exists (EPERM: another
// user's, alive).
func processAlive(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}

// nobodyListens tells whether connecting to the datagram socket at path
// is refused: no process holds it bound.
func nobodyListens(path string) bool {
	c, err := net.Dial("unixgram", path)
	if err == nil {
		c.Close()
		return false
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}
