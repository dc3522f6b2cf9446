package handover

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"syscall"

	"github.com/poold/poold/watcher/procinfo"
)

// ended tells how pid has ended, from /proc/PID/status: gone (reaped, or
// never was) or a zombie (exited, not yet reaped). Its state alone does
// not say so: it is that of the first thread, which may have ended while
// the others run (a program that execs from another thread, until the
// exec is done, as a Go program that re-execs itself does; a main thread
// that called pthread_exit). Taken for an exit, such a worker was never
// counted ready. procinfo.LeaderEnded is the rule; where it says look
// again (a task the kernel is releasing), neither is said, and the next
// look tells which.
func ended(pid int) (gone, zombie bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ESRCH), false
	}
	state, threads := statusField(b, "State:"), statusField(b, "Threads:")
	if len(state) == 0 {
		return false, false
	}
	n, err := strconv.Atoi(string(threads))
	if err != nil {
		return false, false
	}
	end, _ := procinfo.LeaderEnded(state[0], false, n)
	return false, end
}

// statusField is the value of the line of /proc/PID/status that starts
// with key ("State:"), without the white space around it.
func statusField(b []byte, key string) []byte {
	for len(b) > 0 {
		var line []byte
		line, b, _ = bytes.Cut(b, []byte("\n"))
		if v, ok := bytes.CutPrefix(line, []byte(key)); ok {
			return bytes.TrimSpace(v)
		}
	}
	return nil
}

// exited reports whether pid is gone or a zombie (see ended).
func exited(pid int) bool {
	gone, zombie := ended(pid)
	return gone || zombie
}

// zombie reports whether pid has exited and not been reaped (see ended).
func zombie(pid int) bool {
	_, z := ended(pid)
	return z
}
