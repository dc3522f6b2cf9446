package cgroup

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// The cgroup v2 freezer. An operator or an orchestrator can freeze a
// worker's cgroup (echo 1 > cgroup.freeze, systemctl freeze, a container
// pause). Its processes then sleep in the kernel (state S in /proc, not
// T), and neither a caught signal nor SIGCONT runs them: only a thaw or
// SIGKILL does. poold thaws a worker's cgroup where it sends SIGCONT
// after a stop signal, as systemd thaws a frozen unit it stops, so the
// worker shuts down cleanly instead of sitting out graceful_timeout.

// Thaw writes 0 to the cgroup's cgroup.freeze (nil-safe) when it reads
// 1; a kernel without the v2 freezer (before 5.2) or a cgroup already
// gone is no error. A freeze of a cgroup above it (poold's own, its
// unit's) still holds: the kernel freezes a cgroup when it or any
// ancestor asks, and cgroup.freeze shows the cgroup's own ask only.
//
// It reads first because a stop thaws every worker it stops: a write
// takes the kernel's cgroup_mutex even when it changes nothing (a read
// does not), and removing an emptied cgroup and releasing a removed one
// take it too, so in a stop of 10,000 workers the loop's thaws waited on
// the clean-ups of the workers that had already ended.
func (g *Group) Thaw() error {
	if g == nil {
		return nil
	}
	path := filepath.Join(g.Dir, "cgroup.freeze")
	var buf [statusMax]byte
	if b, err := readStatus(path, &buf); err == nil && string(bytes.TrimSpace(b)) == "0" {
		return nil
	}
	fd, err := openWrite(path)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return fmt.Errorf("thaw cgroup %s: %w", g.Dir, err)
	}
	defer unix.Close(fd)
	for {
		_, err = unix.Write(fd, []byte("0"))
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("thaw cgroup %s: %w", g.Dir, err)
	}
	return nil
}

func openWrite(path string) (int, error) {
	for {
		fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if !errors.Is(err, unix.EINTR) {
			return fd, err
		}
	}
}

// Frozen tells whether the cgroup at dir is frozen (cgroup.events says
// frozen 1), by its own freeze or an ancestor's; false when that cannot
// be read (no v2 freezer, the cgroup is gone). It takes a path, not a
// Group, for readers off the arbiter's loop. One read of a small file
// (BenchmarkFrozen), which is why no stats reply asks it of every worker
// (about a quarter more on a stats of 10,000): tests wait on it.
func Frozen(dir string) bool {
	var buf [statusMax]byte
	b, err := readStatus(dir+"/cgroup.events", &buf)
	return err == nil && keyed(b, "frozen") == 1
}
