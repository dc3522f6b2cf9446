package procinfo

import (
	"bytes"
	"os"
	"strconv"
)

// Has a process ended? /proc/PID shows the state and flags of the
// process's first thread (its leader), and a leader that has ended while
// other threads of the process run shows as a zombie (and inside exit)
// too: one whose main thread exited on its own (pthread_exit), or a
// multi-threaded program that execs from another thread than its first
// until the exec is done (the kernel ends the leader, then the exec'ing
// thread takes over its pid), such as a Go program that re-execs itself.
// Taken for ended, such a process was never counted ready, was left to
// init by a stop and skipped by the leftover sweep, and a poold caught
// in its exec looked gone. LeaderEnded is that rule, for every reader of
// /proc (watcher/handover's too).

// LeaderEnded tells whether a process has ended from what /proc says of
// its leader: state (field 3 of /proc/PID/stat, or status's State:),
// exiting (PF_EXITING; false where not known) and the process's thread
// count (Threads:). A leader that has ended (a zombie, or inside exit)
// ends the process only when it is the last thread (Threads: 1); with
// more, the others run on. Threads: 0 is a task the kernel is
// releasing, a reaped process or an exec's old leader: again says that,
// and the next look tells which.
func LeaderEnded(state byte, exiting bool, threads int) (ended, again bool) {
	if state != 'Z' && state != 'X' && !exiting {
		return false, false
	}
	switch {
	case threads == 1:
		return true, false
	case threads <= 0:
		return false, true
	}
	return false, false
}

// ended tells whether pid, whose /proc/PID/stat line is b, has ended:
// LeaderEnded, where a leader that has ended beside other threads ends
// the process when its exit code says a signal or a status (a
// whole-process exit), or when every other thread is ending too (each
// inside exit, or with SIGKILL pending, as the kernel marks them; one
// between taking its SIGKILL and entering exit looks alive for that
// moment: a caller watching an exit under way looks again), and where
// the kernel is releasing the task (LeaderEnded's again) the stat is
// read once more (into a buffer of its own: b stays as it was).
func ended(pid int, b []byte) bool {
	for try := 0; ; try++ {
		l, ok := exitFields(b)
		if !ok {
			return false
		}
		end, again := LeaderEnded(l.state, l.flags&pfExiting != 0, l.threads)
		switch {
		case end:
			return true
		case again && try == 0:
			var err error
			if b, err = readSmall("/proc/"+strconv.Itoa(pid)+"/stat", make([]byte, statBufSize)); err != nil {
				return true
			}
			continue
		case again:
			return true
		case l.state == 'Z' && l.code > 0:
			// A leader that ended alone did so with exit(0) (pthread_exit);
			// a signal or a status is the whole process's exit, the
			// others killed (a Go program's SIGTERM).
			return true
		case l.state == 'Z' || l.state == 'X' || l.flags&pfExiting != 0:
			return othersEnding(pid)
		}
		return false
	}
}

// othersEnding tells whether every thread of pid but its leader is
// ending: inside exit, a zombie, or killed (SIGKILL pending), or gone.
func othersEnding(pid int) bool {
	buf := make([]byte, idBufSize)
	dir := "/proc/" + strconv.Itoa(pid) + "/task/"
	tids, err := os.ReadDir(dir)
	if err != nil {
		return true // the process has gone meanwhile
	}
	for _, t := range tids {
		if t.Name() == strconv.Itoa(pid) {
			continue
		}
		b, err := readSmall(dir+t.Name()+"/stat", buf)
		if err != nil {
			continue // the thread has gone
		}
		l, ok := exitFields(b)
		if !ok || l.state == 'Z' || l.state == 'X' || l.flags&pfExiting != 0 {
			continue
		}
		if b, err = readSmall(dir+t.Name()+"/status", buf); err == nil && !killPending(b) {
			return false
		}
	}
	return true
}

// killPending tells whether a /proc status text shows SIGKILL pending,
// for the thread (SigPnd) or the process (ShdPnd).
func killPending(status []byte) bool {
	for _, line := range bytes.Split(status, []byte("\n")) {
		name, mask, found := bytes.Cut(line, []byte(":"))
		if !found || (string(name) != "SigPnd" && string(name) != "ShdPnd") {
			continue
		}
		if m, err := strconv.ParseUint(string(bytes.TrimSpace(mask)), 16, 64); err == nil && m&sigkill != 0 {
			return true
		}
	}
	return false
}
