package workerlog

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// symlinkRefused explains err when path is a symbolic link: poold opens a
// log file with O_NOFOLLOW, since a worker that may write the log's
// directory could replace the file by a link to any file poold may write
// (root's authorized_keys, a cron file), and poold would append the
// worker's lines there.
//
// In a sticky directory (/tmp) the kernel may refuse a link another user
// owns with EACCES (fs.protected_symlinks) before O_NOFOLLOW's ELOOP:
// that too is a link, not a directory poold may not write.
func symlinkRefused(path string, err error) error {
	if !errors.Is(err, syscall.ELOOP) && !(errors.Is(err, syscall.EACCES) && isLink(path)) {
		return err
	}
	return &linkError{err}
}

// linkError is a worker log path that holds a symbolic link (IsLink).
type linkError struct{ err error }

func (e *linkError) Error() string {
	return e.err.Error() + ": it is a symbolic link, which poold does not follow for a worker log (whoever may write its directory could point it at any file poold may write); remove the link, or give the real path"
}

func (e *linkError) Unwrap() error { return e.err }

// IsLink reports whether err is a worker log file refused for being a
// symbolic link: the fix is the link, not space or permissions.
func IsLink(err error) bool {
	var le *linkError
	return errors.As(err, &le)
}

// isLink reports whether path is a symbolic link.
func isLink(path string) bool {
	fi, err := os.Lstat(path)
	return err == nil && fi.Mode()&fs.ModeSymlink != 0
}

// openRegular opens path without following a link at it (symlinkRefused)
// and refuses what is not a regular file or a character device. A FIFO a worker put there
// would block the open until someone read it, and with it that log, a
// rotation's compression and poold's stop; O_NONBLOCK makes that open
// return (ENXIO without a reader) so the check can say what is there.
func openRegular(path string, flag int, perm os.FileMode) (*os.File, error) {
	f, err := os.OpenFile(path, flag|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, perm)
	if errors.Is(err, syscall.ENXIO) {
		return nil, &notRegularError{path: path, kind: "a FIFO or socket"}
	}
	if errors.Is(err, syscall.EISDIR) {
		return nil, &notRegularError{path: path, kind: "a directory"}
	}
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	// A device (/dev/null) is the admin's: a worker cannot make one.
	if err == nil && !st.Mode().IsRegular() && st.Mode()&os.ModeCharDevice == 0 {
		err = &notRegularError{path: path, kind: fileKind(st.Mode())}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// notRegularError is a worker log path that holds neither a regular file
// nor a character device (IsNotRegular).
type notRegularError struct{ path, kind string }

func (e *notRegularError) Error() string {
	return fmt.Sprintf("open %s: %s, not a regular file: poold writes worker logs to files only; remove it, or give another path", e.path, e.kind)
}

// IsNotRegular reports whether err is a worker log path refused for
// holding something other than a file (a FIFO, a socket, a directory):
// the fix is what is there, not space or permissions.
func IsNotRegular(err error) bool {
	var ne *notRegularError
	return errors.As(err, &ne)
}

// fileKind names what a path that is not a regular file holds.
func fileKind(m os.FileMode) string {
	switch {
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeDevice != 0:
		return "a device"
	case m.IsDir():
		return "a directory"
	}
	return "a special file (" + m.Type().String() + ")"
}

// createLike creates the file at path with the mode of like, exactly
// (whatever the umask), and its owner when poold is root. It returns nil
// when like is nil or it did not create the file (one exists already:
// the error says so).
func createLike(path string, like os.FileInfo) (*os.File, error) {
	if like == nil {
		return nil, nil
	}
	perm := like.Mode().Perm()
	f, err := openRegular(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return nil, err
	}
	if st, ok := like.Sys().(*syscall.Stat_t); ok && os.Geteuid() == 0 {
		_ = f.Chown(int(st.Uid), int(st.Gid))
	}
	_ = f.Chmod(perm) // after Chown, which may clear mode bits
	return f, nil
}

// openCreate opens path for appending, creating it with perm when it is
// missing: exactly perm when exact (a chmod after the create undoes
// poold's umask), else perm less poold's umask.
func openCreate(path string, perm os.FileMode, exact bool) (*os.File, error) {
	f, err := openRegular(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_EXCL, perm)
	if errors.Is(err, fs.ErrExist) {
		return openRegular(path, os.O_WRONLY|os.O_APPEND, 0)
	}
	if err == nil && exact {
		_ = f.Chmod(perm)
	}
	return f, err
}
