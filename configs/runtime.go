package configs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/poold/poold/configs/rundir"
)

// RuntimeDir is the directory holding poold's default ipc:// sockets
// (rundir.Dir): $XDG_RUNTIME_DIR/poold when XDG_RUNTIME_DIR is set,
// /run/poold for root, else <os.TempDir()>/poold-<uid>. It depends only on
// the environment, so poolctl finds poold without reading any config file.
func RuntimeDir() string { return rundir.Dir() }

// DefaultEndpoint is the control endpoint used when none is configured.
func DefaultEndpoint() string { return rundir.ControlEndpoint() }

// DefaultPubSubEndpoint is the event endpoint used when none is configured.
func DefaultPubSubEndpoint() string { return "ipc://" + filepath.Join(RuntimeDir(), "events.sock") }

// DefaultStatsEndpoint is the stats endpoint used when none is configured.
func DefaultStatsEndpoint() string { return "ipc://" + filepath.Join(RuntimeDir(), "stats.sock") }

// runtimeDirFix is what to do about a runtime directory poold cannot
// use, in a form that works in an image without a shell, where the
// directory is a volume made anew at each start.
const runtimeDirFix = "mount the writable volume at the parent directory instead (an emptyDir at /run: poold makes /run/poold itself, private), " +
	"or set XDG_RUNTIME_DIR to a writable directory only poold's user may write (for poold and poolctl alike: poold uses $XDG_RUNTIME_DIR/poold), " +
	"or set arbiter.endpoint, pubsub_endpoint and stats_endpoint to ipc:// paths in such a directory"

// runtimeDirLooked runs once EnsureRuntimeDir has looked at the
// directory, before it changes anything: a test swaps the directory there.
var runtimeDirLooked = func() {}

// EnsureRuntimeDir creates dir (mode 0700, parents as needed) or checks
// that the existing one is a real, writable directory owned by the
// effective user and closed to group and others, so nobody else can
// plant or take the control socket inside it. One that poold's user owns
// but that is open (a Kubernetes emptyDir is made 0777, or 1777 in
// memory) is made 0700, once nothing in it belongs to another user:
// tightened says so (its mode before, as printed), for poold to log. An
// error says what is wrong and how to fix it; the same start meets it
// again, so it is no reason to retry.
//
// The directory is opened once, without following a symlink, and looked
// at, changed and listed through that descriptor: a directory swapped
// for a symlink meanwhile (in a parent another user may write) is never
// followed, and is refused when the path no longer names it.
func EnsureRuntimeDir(dir string) (tightened string, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("configs: runtime directory %s: %w (%s)", dir, err, runtimeDirFix)
	}
	f, err := openDir(dir)
	if err != nil {
		return "", err
	}
	defer f.Close()
	fi, err := f.Stat() // fstat
	if err != nil {
		return "", fmt.Errorf("configs: runtime directory %s: %w", dir, err)
	}
	st, _ := fi.Sys().(*syscall.Stat_t)
	if st != nil && int(st.Uid) != os.Geteuid() {
		// In a sticky /tmp only its owner (or root) may remove it: give
		// poold's user a way that needs neither.
		return "", fmt.Errorf("configs: runtime directory %s is owned by uid %d, not by poold's uid %d, so poold will not put its control socket there; "+
			"remove it if you may (its owner or root can), or %s",
			dir, st.Uid, os.Geteuid(), runtimeDirFix)
	}
	runtimeDirLooked()
	if fi.Mode().Perm()&0o077 != 0 {
		if tightened, err = tighten(f, dir, fi.Mode()); err != nil {
			return "", err
		}
	}
	// On every start: a refusal below leaves the directory 0700, and the
	// next start must not take what was planted while it was open.
	if err := foreignEntry(f, dir, tightened); err != nil {
		return "", err
	}
	if err := sameDir(dir, st); err != nil {
		return "", err
	}
	if err := writable(dir); err != nil {
		return "", fmt.Errorf("configs: runtime directory %s: cannot create sockets in it: %w; %s", dir, err, runtimeDirFix)
	}
	return tightened, nil
}

// openDir opens dir, which must be a directory and not a symlink.
func openDir(dir string) (*os.File, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err == nil {
		return os.NewFile(uintptr(fd), dir), nil
	}
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
		mode := "unknown"
		if fi, lerr := os.Lstat(dir); lerr == nil {
			mode = fi.Mode().String()
		}
		return nil, fmt.Errorf("configs: runtime directory %s is not a directory (mode %s): remove it so poold can create it, or %s", dir, mode, runtimeDirFix)
	}
	return nil, fmt.Errorf("configs: runtime directory %s: %w", dir, err)
}

// sameDir refuses dir when its path no longer names the directory poold
// opened (st): someone swapped it while poold checked it.
func sameDir(dir string, st *syscall.Stat_t) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("configs: runtime directory %s: %w", dir, err)
	}
	now, ok := fi.Sys().(*syscall.Stat_t)
	if st == nil || !ok || now.Dev == st.Dev && now.Ino == st.Ino {
		return nil
	}
	return fmt.Errorf("configs: runtime directory %s changed while poold checked it (it is now %s): someone who may write %s replaced it, so poold will not use it; "+
		"make %s writable by poold's user alone, or %s", dir, fi.Mode(), filepath.Dir(dir), filepath.Dir(dir), runtimeDirFix)
}

// tighten makes dir (open as f), poold's own but open to others, mode
// 0700 and gives the mode it had (foreignEntry then refuses it if an
// entry in it is someone else's).
func tighten(f *os.File, dir string, mode fs.FileMode) (string, error) {
	was := ModeString(mode)
	if err := f.Chmod(0o700); err != nil { // fchmod
		return "", fmt.Errorf("configs: runtime directory %s has mode %s, open to group or others, and poold could not make it 0700: %v; %s", dir, was, err, runtimeDirFix)
	}
	return was, nil
}

// foreignEntry refuses dir (open as f) when an entry in it is someone
// else's: one that another user could create while it was open (a
// socket or link in wait for poolctl's commands) stays theirs after the
// chmod. was is the mode tighten found, "" when dir was already private.
func foreignEntry(f *os.File, dir, was string) error {
	names, err := f.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("configs: runtime directory %s: %w", dir, err)
	}
	open := "may have been open to others"
	if was != "" {
		open = "was open to others (mode " + was + ")"
	}
	for _, name := range names {
		var st unix.Stat_t
		if err := unix.Fstatat(int(f.Fd()), name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			continue // gone since the listing
		}
		if int(st.Uid) != os.Geteuid() {
			return fmt.Errorf("configs: runtime directory %s %s and holds %s, owned by uid %d, not by poold's uid %d: "+
				"someone else may have planted it where poolctl's commands go, so poold will not use the directory; remove it (a fresh volume has none), or %s",
				dir, open, filepath.Join(dir, name), st.Uid, os.Geteuid(), runtimeDirFix)
		}
	}
	return nil
}

// writable reports an error when poold could not create a socket in dir
// (a read-only file system, a mode that keeps its user out).
func writable(dir string) error {
	err := unix.Faccessat(unix.AT_FDCWD, dir, unix.W_OK|unix.X_OK, unix.AT_EACCESS)
	if errors.Is(err, unix.EROFS) {
		return errors.New("read-only file system")
	}
	return err
}

// CheckRuntimeDir is EnsureRuntimeDir for --check: it changes nothing. It
// reports what would keep poold from starting: dir (or the nearest
// directory above it that exists, where poold would make it) read-only
// or closed to poold's user, or owned by another user.
func CheckRuntimeDir(dir string) error {
	d := dir
	for {
		fi, err := os.Lstat(d)
		if err == nil {
			if !fi.IsDir() {
				return fmt.Errorf("configs: runtime directory %s: %s is not a directory; %s", dir, d, runtimeDirFix)
			}
			if st, ok := fi.Sys().(*syscall.Stat_t); ok && d == dir && int(st.Uid) != os.Geteuid() {
				return fmt.Errorf("configs: runtime directory %s is owned by uid %d, not by poold's uid %d, so poold will not put its control socket there; %s", dir, st.Uid, os.Geteuid(), runtimeDirFix)
			}
			if err := writable(d); err != nil {
				return fmt.Errorf("configs: runtime directory %s: poold could not create sockets in %s: %w; %s", dir, d, err, runtimeDirFix)
			}
			return nil
		}
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, unix.ENOTDIR) {
			return fmt.Errorf("configs: runtime directory %s: %w", dir, err)
		}
		up := filepath.Dir(d)
		if up == d {
			return nil
		}
		d = up
	}
}

// ModeString prints a mode in octal as chmod and ls show it, with its
// sticky, setgid and setuid bits (rundir.ModeString).
func ModeString(m fs.FileMode) string { return rundir.ModeString(m) }
