package procinfo

import (
	"fmt"
	"os"
	"strconv"
)

// ForeignProc says why /proc is not the one of the calling process's pid
// namespace, or nil when it is. A /proc of another namespace (a PID
// namespace entered with `unshare --pid --fork` and no --mount-proc) has
// other processes under the pids this process knows: whatever is read
// there about a worker is about someone else.
func ForeignProc() error {
	self, err := os.Readlink("/proc/self")
	if err != nil {
		return fmt.Errorf("no /proc of this pid namespace: %w", err)
	}
	if pid := os.Getpid(); self != strconv.Itoa(pid) {
		return fmt.Errorf("/proc is of another pid namespace: /proc/self is %s, this process is pid %d", self, pid)
	}
	return nil
}
