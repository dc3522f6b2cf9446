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
	state, flags, code, ok := exitFields(b)
	if ok && (state == 'Z' || state == 'X' || flags&pfExiting != 0) {
		return code&0x7f != int(syscall.SIGKILL)
	}
	b, err = readSmall(dir+"/status", buf)
	if err != nil {
		return true
	}
	return pendingFatal(b)
}

// exitFields reads the state (field 3), flags (field 9) and exit code
// (field 52, as wait(2) reports it; -1 on kernels before 3.5 that lack
// it) of a /proc/<pid>/stat line, counting fields after the command
// name's last ')'.
func exitFields(b []byte) (state byte, flags uint64, code int, ok bool) {
	end := bytes.LastIndexByte(b, ')')
	if end < 0 {
		return 0, 0, 0, false
	}
	f := bytes.Fields(b[end+1:])
	if len(f) < 7 || len(f[0]) != 1 {
		return 0, 0, 0, false
	}
	flags, err := strconv.ParseUint(string(f[6]), 10, 64)
	code = -1
	if len(f) >= 50 {
		if c, err := strconv.Atoi(string(f[49])); err == nil {
			code = c
		}
	}
	return f[0][0], flags, code, err == nil
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
// reaped, or a process inside exit.
func Gone(pid int) bool {
	b, err := readSmall("/proc/"+strconv.Itoa(pid)+"/stat", make([]byte, statBufSize))
	if err != nil {
		return true
	}
	state, flags, _, ok := exitFields(b)
	return ok && (state == 'Z' || state == 'X' || flags&pfExiting != 0)
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
	for _, line := range bytes.Split(b, []byte("\n")) {
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
