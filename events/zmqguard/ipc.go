package zmqguard

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"time"
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
		if err := os.Chmod(path, mode); err != nil {
			l.Close()
			return nil, ipcError("chmod %04o ipc://%s: %w", mode, path, err)
		}
	}
	return l, nil
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
