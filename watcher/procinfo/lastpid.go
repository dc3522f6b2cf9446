package procinfo

import (
	"strconv"
	"strings"
)

// The kernel gives pids in turn: a cursor that goes up from the last pid
// it gave, wraps at pid_max and passes over those in use. The last one it
// gave, in the reader's pid namespace, is /proc/sys/kernel/ns_last_pid.
// Read just before an event, it tells the processes seen after the event
// apart by when their fork took its pid: before the read, or after it.

// lastPidFile is where the kernel says the last pid it gave.
var lastPidFile = "/proc/sys/kernel/ns_last_pid"

// LastPid is the last pid the kernel gave in poold's pid namespace.
func LastPid() (int, error) {
	b, err := readSmall(lastPidFile, make([]byte, 32))
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// GivenAfter reports whether pid was given after mark, a LastPid read
// earlier, given now, a LastPid read after pid was seen: it lies after
// mark in the kernel's turn, up to now (wrapped or not). A process alive
// since before mark whose number the cursor passed over since (in use)
// lies there too: callers that must not take it for a new one compare
// its start with one read before mark.
func GivenAfter(pid, mark, now int) bool {
	if now >= mark {
		return pid > mark && pid <= now
	}
	return pid > mark || pid <= now // the cursor wrapped at pid_max
}
