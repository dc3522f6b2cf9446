package zmqguard

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// listenUnix binds an ipc socket at path. An existing socket file that
// nobody accepts on is stale (left by a crash) and is removed; one that
// accepts belongs to a running process and is an error. The new socket
// file gets mode (0600 by default). Abstract names ("@name") have no file.
func listenUnix(path string, mode os.FileMode) (net.Listener, error) {
	abstract := strings.HasPrefix(path, "@")
	if !abstract {
		if err := clearStale(path); err != nil {
			return nil, err
		}
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, ipcError("listen on ipc://%s: %w", path, err)
	}
	if !abstract {
		if err := ChmodSocket(path, mode); err != nil {
			l.Close()
			return nil, ipcError("chmod %04o ipc://%s: %w", mode, path, err)
		}
	}
	return l, nil
}

// ChmodSocket sets the mode of the unix socket file at path through an
// O_PATH descriptor of the file itself, and refuses anything at path
// that is not a socket, a symbolic link above all: whoever may write its
// directory could otherwise point a root poold's chmod (0666 for
// control_allow rules) at any file, /etc/shadow say.
func ChmodSocket(path string, mode os.FileMode) error {
	fd, err := unix.Open(path, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		what := "not a socket"
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			what = "a symbolic link"
		}
		return fmt.Errorf("%s is now %s, not the socket poold bound: its mode is left as it is; see who may write %s, remove it and restart poold", path, what, filepath.Dir(path))
	}
	// fchmod of an O_PATH descriptor is refused (EBADF); its /proc link
	// is the file itself.
	return unix.Chmod("/proc/self/fd/"+strconv.Itoa(fd), uint32(mode.Perm()))
}

func clearStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return ipcError("ipc://%s: %w", path, err)
	}
	if fi.Mode().Type() != os.ModeSocket {
		return ipcError("ipc://%s exists and is not a socket; remove it or choose another endpoint", path)
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return &ipcErr{err: fmt.Errorf("another poold is already listening on ipc://%s; stop it or choose another endpoint", path), inUse: true}
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return ipcError("ipc://%s: probing the existing socket file: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return ipcError("removing stale socket file ipc://%s: %w", path, err)
	}
	return nil
}

// ipcErr is why an ipc endpoint could not be bound, worded for the user
// without the transport's internal names (BindError shows it as is).
// inUse marks a socket file another process listens on: errors.Is
// finds syscall.EADDRINUSE, as for a tcp port.
type ipcErr struct {
	err   error
	inUse bool
}

func (e *ipcErr) Error() string { return e.err.Error() }
func (e *ipcErr) Unwrap() error { return e.err }
func (e *ipcErr) Is(target error) bool {
	return e.inUse && target == syscall.EADDRINUSE
}

// ipcError is fmt.Errorf (%w wraps) as an *ipcErr.
func ipcError(format string, args ...any) error {
	return &ipcErr{err: fmt.Errorf(format, args...)}
}
