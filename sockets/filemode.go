package sockets

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/poold/poold/configs"
	"golang.org/x/sys/unix"
)

// errNotOurSocket: the path of a unix socket no longer names the socket
// file poold bound there.
var errNotOurSocket = errors.New("not the socket file poold bound")

// setSocketFile gives the unix socket file at path the spec's mode (with
// chmod), then its owner and group (Normalize resolved them; no chown
// when neither is set), through an O_PATH descriptor of the file itself,
// never through a symbolic link and never on a file other than the socket poold bound
// (want; nil when poold knows none: then nothing is changed). Whoever may write the socket's directory (a
// worker's user owning /run/app, or a socket owned by a worker in
// /tmp) can replace the file by a link to /etc/shadow; chmod and chown
// by path, as root, would then open that file to them. A failure is the
// package's *Error for socket name, its Op "chmod" or "chown".
func setSocketFile(name, path string, s configs.Socket, want *fileID, chmod bool) error {
	fail := func(op string, err error, hint string) error {
		if hint == "" {
			hint = sysHint(err, s, "", 0)
		}
		return &Error{Socket: name, Op: op, Addr: s.Path, Err: err, Hint: hint}
	}
	fd, err := unix.Open(path, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		return fail("chmod", err, "the socket's file is gone (removed by hand or by tmpfiles?): poold still listens, but no client can connect by its path; "+
			"give the socket a new path and reload (its watchers roll over to it), or restart poold")
	}
	if err != nil {
		return fail("chmod", err, "")
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fail("chmod", err, "")
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK || want == nil || st.Dev != want.dev || st.Ino != want.ino {
		return fail("chmod", &notOurs{what: fileKindOf(st.Mode)}, notOursHint(path))
	}
	if chmod {
		// fchmod of an O_PATH fd is refused (EBADF); its /proc link is the
		// file itself, as glibc does for fchmodat(AT_SYMLINK_NOFOLLOW).
		if err := unix.Chmod("/proc/self/fd/"+strconv.Itoa(fd), uint32(s.Mode.Perm())); err != nil {
			return fail("chmod", err, "")
		}
	}
	if s.Owner == "" && s.Group == "" {
		return nil
	}
	uid, gid, err := s.Ownership()
	if err == nil {
		err = unix.Fchownat(fd, "", uid, gid, unix.AT_EMPTY_PATH)
	}
	if err != nil {
		return fail("chown", err, chownHint(s))
	}
	return nil
}

// notOurs is errNotOurSocket, saying what is at the path now.
type notOurs struct{ what string }

func (e *notOurs) Error() string {
	return fmt.Sprintf("%s: the path now holds %s", errNotOurSocket, e.what)
}
func (e *notOurs) Unwrap() error { return errNotOurSocket }

// notOursHint says what to do when the socket's path changed under poold.
func notOursHint(path string) string {
	return fmt.Sprintf("poold changes no mode or owner through it, since whoever may write %s could point it at any file; see what is there (ls -l %s) and who may write that directory, remove it, then give the socket a new path and reload (its watchers roll over to it), or restart poold to bind it again; until then, a reload goes through only with the socket's former mode and owner in the file", filepath.Dir(path), path)
}

// fileKindOf names a file type of a stat mode, as describe does.
func fileKindOf(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFSOCK:
		return "another socket file"
	case unix.S_IFLNK:
		return "a symbolic link"
	case unix.S_IFREG:
		return "a regular file"
	case unix.S_IFDIR:
		return "a directory"
	case unix.S_IFIFO:
		return "a named pipe"
	}
	return "a device"
}
