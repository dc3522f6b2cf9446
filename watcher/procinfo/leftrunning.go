package procinfo

import (
	"bytes"
	"slices"
	"strconv"
	"syscall"
)

// pfExiting is the kernel's PF_EXITING task flag (field 9 of
// /proc/<pid>/stat): the process is inside exit.
const pfExiting = 0x4

// notFatal are the signals whose default action does not end a process:
// SIGCHLD, SIGCONT, SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU, SIGURG, SIGWINCH
// (signal(7)); bit n-1 stands for signal n.
const notFatal = 1<<(17-1) | 1<<(18-1) | 1<<(19-1) | 1<<(20-1) | 1<<(21-1) | 1<<(22-1) | 1<<(23-1) | 1<<(28-1)

// sigkill is SIGKILL's bit in those masks.
const sigkill = 1 << (syscall.SIGKILL - 1)

// LeftRunning lists the processes of pids that a worker's end left
// running: all but those already ending, on their own or of a signal
// other than SIGKILL. The stop signal that ended a worker often ends its
// children too, and at the worker's reap some of them have not run yet;
// the kernel shows the signal pending (a fatal one also marks the process
// with a pending SIGKILL; one blocked for a moment, as a shell in `wait`
// has them, stays pending until unblocked). A process dying of SIGKILL
// alone counts as left running: that is poold's kill at a stop's
// deadline, and the process is what it killed. One that blocks the
// signal for good looks as if ending here; at a stop's deadline Running
// counts it.
func LeftRunning(pids []int) []int {
	buf := make([]byte, idBufSize)
	var out []int
	for _, pid := range pids {
		if !ending(pid, buf) {
			out = append(out, pid)
		}
	}
	return out
}

// ending tells whether pid is gone or ending, not of SIGKILL (LeftRunning).
func ending(pid int, buf []byte) bool {
	dir := "/proc/" + strconv.Itoa(pid)
	b, err := readSmall(dir+"/stat", buf)
	if err != nil {
		return true
	}
	l, ok := exitFields(b)
	if ok && ended(pid, b) {
		return l.code&0x7f != int(syscall.SIGKILL)
	}
	b, err = readSmall(dir+"/status", buf)
	if err != nil {
		return true
	}
	return pendingFatal(b)
}

// leader is what exitFields reads of a /proc/<pid>/stat line: its first
// thread's state (field 3) and flags (field 9), the process's thread
// count (field 20) and the leader's exit code (field 52, as wait(2)
// reports it; -1 on kernels before 3.5 that lack it).
type leader struct {
	state   byte
	flags   uint64
	threads int
	code    int
}

// exitFields reads a /proc/<pid>/stat line's leader fields, counting
// fields after the command name's last ')'.
func exitFields(b []byte) (l leader, ok bool) {
	end := bytes.LastIndexByte(b, ')')
	if end < 0 {
		return leader{}, false
	}
	f := bytes.Fields(b[end+1:])
	if len(f) < 18 || len(f[0]) != 1 {
		return leader{}, false
	}
	flags, err := strconv.ParseUint(string(f[6]), 10, 64)
	threads, terr := strconv.Atoi(string(f[17]))
	l = leader{state: f[0][0], flags: flags, threads: threads, code: -1}
	if len(f) >= 50 {
		if c, err := strconv.Atoi(string(f[49])); err == nil {
			l.code = c
		}
	}
	return l, err == nil && terr == nil
}

// pendingFatal tells whether a /proc/<pid>/status text shows a signal
// other than SIGKILL pending, for the thread (SigPnd) or the process
// (ShdPnd), that is neither ignored (SigIgn) nor handled (SigCgt) and by
// default ends the process.
func pendingFatal(status []byte) bool {
	masks := map[string]uint64{}
	for _, line := range bytes.Split(status, []byte("\n")) {
		name, mask, found := bytes.Cut(line, []byte(":"))
		switch string(name) {
		case "SigPnd", "ShdPnd", "SigIgn", "SigCgt":
		default:
			continue
		}
		if m, err := strconv.ParseUint(string(bytes.TrimSpace(mask)), 16, 64); found && err == nil {
			masks[string(name)] = m
		}
	}
	pending := masks["SigPnd"] | masks["ShdPnd"]
	return pending&^(masks["SigIgn"]|masks["SigCgt"]|notFatal|sigkill) != 0
}

// Running lists the processes of pids that have not ended: zombies and
// processes inside exit are left out, whatever signal they have pending.
// It counts what a kill at a stop's deadline finds: by then a signal
// still pending is one the process blocks or has not been let to act
// on, and it would outlive the stop but for the kill.
func Running(pids []int) []int {
	return slices.DeleteFunc(slices.Clone(pids), Gone)
}

// Gone tells whether pid has ended: no such process, a zombie not yet
// reaped, or a process inside exit (of its threads, not its leader
// alone: see LeaderEnded).
func Gone(pid int) bool {
	b, err := readSmall("/proc/"+strconv.Itoa(pid)+"/stat", make([]byte, statBufSize))
	if err != nil {
		return true
	}
	return ended(pid, b)
}

// Dying tells whether pid has ended or is about to: Gone, or a SIGKILL
// pending for it (the OOM killer's, which it may not have run to act on
// yet).
func Dying(pid int) bool {
	if Gone(pid) {
		return true
	}
	b, err := readSmall("/proc/"+strconv.Itoa(pid)+"/status", make([]byte, idBufSize))
	if err != nil {
		return true
	}
	return killPending(b)
}
