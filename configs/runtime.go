package configs

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

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

// EnsureRuntimeDir creates dir (mode 0700, parents as needed) or checks
// that the existing one is a real directory owned by the effective user
// and closed to group and others, so nobody else can reach the control
// socket inside it. The error says what is wrong and how to fix it.
func EnsureRuntimeDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("configs: runtime directory %s: %w (set XDG_RUNTIME_DIR to a writable directory, or configure ipc:// endpoints elsewhere)", dir, err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("configs: runtime directory %s: %w", dir, err)
	}
	if fi.Mode()&fs.ModeSymlink != 0 || !fi.IsDir() {
		return fmt.Errorf("configs: runtime directory %s is not a directory (mode %s): remove it so poold can create it", dir, fi.Mode())
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		// In a sticky /tmp only its owner (or root) may remove it: give
		// poold's user a way that needs neither.
		return fmt.Errorf("configs: runtime directory %s is owned by uid %d, not by poold's uid %d, so poold will not put its control socket there; "+
			"remove it if you may (its owner or root can), or set XDG_RUNTIME_DIR to a directory only poold's user may write (for poold and poolctl alike), "+
			"or set arbiter.endpoint, pubsub_endpoint and stats_endpoint to ipc:// paths in such a directory",
			dir, st.Uid, os.Geteuid())
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("configs: runtime directory %s has mode %04o, open to group or others: run `chmod 700 %s`", dir, uint32(perm), dir)
	}
	return nil
}
