// Package rundir names the directory of poold's default ipc:// sockets
// and the endpoints in it. It reads only the environment, so poolctl finds
// poold without reading any config file (or linking the config loader).
package rundir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
)

// Dir is the directory holding poold's default ipc:// sockets:
// $XDG_RUNTIME_DIR/poold when XDG_RUNTIME_DIR is set, /run/poold for root,
// else <os.TempDir()>/poold-<uid>.
func Dir() string {
	if x := os.Getenv("XDG_RUNTIME_DIR"); x != "" {
		return filepath.Join(x, "poold")
	}
	if os.Geteuid() == 0 {
		return "/run/poold"
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("poold-%d", os.Geteuid()))
}

// Candidates lists the control sockets a poold of this user may listen on
// by default, Dir's first: a poold started with another environment chose
// another directory (under systemd it has no XDG_RUNTIME_DIR, while a
// login shell has /run/user/UID).
func Candidates() []string {
	uid := os.Geteuid()
	dirs := []string{Dir(), filepath.Join("/run/user", strconv.Itoa(uid), "poold")}
	if uid == 0 {
		dirs = append(dirs, "/run/poold")
	} else {
		dirs = append(dirs, filepath.Join(os.TempDir(), fmt.Sprintf("poold-%d", uid)))
	}
	var out []string
	for _, d := range dirs {
		if p := filepath.Join(d, "control.sock"); !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// ControlEndpoint is the control endpoint used when none is configured.
func ControlEndpoint() string { return "ipc://" + filepath.Join(Dir(), "control.sock") }

// CheckShared reports an error when Dir (for a user other than root) was
// made by another user, or open to others: anyone may create
// /tmp/poold-<uid> before its user's poold does, or poold/ in an
// XDG_RUNTIME_DIR that is shared (some images and CI point it at /tmp),
// and put a listener of theirs in it that receives every command poolctl
// sends (env values of set and add included). poold refuses such a
// directory; poolctl must not talk into it either. A missing directory is
// no error (poold is not running; the dial says so).
func CheckShared() error {
	if os.Geteuid() == 0 {
		return nil // /run/poold, or root's own runtime dir
	}
	dir := Dir()
	fi, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	const fix = "remove it (if it is yours to remove), or set XDG_RUNTIME_DIR to a directory only you may write, for poold and poolctl alike"
	st, ok := fi.Sys().(*syscall.Stat_t)
	switch {
	case !fi.IsDir():
		return fmt.Errorf("poold's runtime directory %s is not a directory (%s): poolctl sends nothing there; %s", dir, fi.Mode().Type(), fix)
	case ok && int(st.Uid) != os.Geteuid():
		return fmt.Errorf("poold's runtime directory %s is owned by uid %d, not by you (uid %d): whatever listens in it is not your poold, and poolctl sends it nothing (your commands, env values included, would go to that user); %s", dir, st.Uid, os.Geteuid(), fix)
	case fi.Mode().Perm()&0o077 != 0:
		return fmt.Errorf("poold's runtime directory %s has mode %s, open to other users, who could replace its socket: poolctl sends nothing there; run `chmod 700 %s`", dir, ModeString(fi.Mode()), dir)
	}
	return nil
}

// ModeString prints a directory's permissions in octal with its sticky,
// setgid and setuid bits, as chmod and ls show them: a /tmp-like dir is
// 1777 (fs.FileMode.Perm drops those bits, and printed 0777).
func ModeString(m fs.FileMode) string {
	n := uint32(m.Perm())
	if m&fs.ModeSticky != 0 {
		n |= 0o1000
	}
	if m&fs.ModeSetgid != 0 {
		n |= 0o2000
	}
	if m&fs.ModeSetuid != 0 {
		n |= 0o4000
	}
	return fmt.Sprintf("%04o", n)
}
