package handover

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"syscall"
)

// ended tells how pid has ended, from /proc/PID/status: gone (reaped, or
// never was) or a zombie (exited, not yet reaped). Its state alone does
// not say so: the state of /proc/PID is that of its first thread (the
// leader), and a leader that has ended while other threads of the
// process run shows as a zombie too. A multi-threaded program that
// execs from another thread than its first looks so until the exec is
// done (the kernel ends the leader, then the exec'ing thread takes over
// its pid): a Go program that re-execs itself, as a -race test worker
// does, or one whose main thread exited on its own (pthread_exit). Taken
// for an exit, such a worker was never counted ready, and no exit came
// to end it: it stayed "starting" for good. A zombie is one with no
// thread left (Threads: 1, the leader); with more, the process lives
// on. Threads: 0 is a task the kernel is releasing: a reaped process,
// or the old leader of an exec that has just ended; neither is said,
// and the next look tells which.
func ended(pid int) (gone, zombie bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ESRCH), false
	}
	state, threads := statusField(b, "State:"), statusField(b, "Threads:")
	if len(state) == 0 || state[0] != 'Z' && state[0] != 'X' {
		return false, false
	}
	n, err := strconv.Atoi(string(threads))
	return false, err == nil && n == 1
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
