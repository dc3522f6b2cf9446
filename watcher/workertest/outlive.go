package workertest

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// The outlive mode is an orphan a test makes on purpose (what a worker
// leaves behind holding its socket, a stranger's process holding a
// port), as `sleep 3600 &` made one: it keeps every descriptor it
// inherited, never reads or closes them, and ends once the process
// OutlivePID names (the test binary) is gone, so a test binary that is
// killed leaves none of them behind for an hour.

// OutlivePID names the process whose end ends an outlive helper.
const OutlivePID = "POOLD_TEST_OUTLIVE_PID"

// outlive blocks until the process $OUTLIVE_PID has ended. A pidfd
// becomes readable when its process ends, whoever its parent and
// whatever its uid (a helper that runs as uid 65534 may not signal a
// root test binary, but may watch it).
func outlive() error {
	pid, err := strconv.Atoi(os.Getenv(OutlivePID))
	if err != nil || pid <= 0 {
		return fmt.Errorf("%s=%q: not the pid of the process to outlive", OutlivePID, os.Getenv(OutlivePID))
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return nil // already gone
	}
	if err != nil {
		return fmt.Errorf("pidfd_open(%d): %w", pid, err)
	}
	defer unix.Close(fd)
	for {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, -1); err != nil && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("poll of pidfd of %d: %w", pid, err)
		}
		if fds[0].Revents != 0 {
			return nil
		}
	}
}
