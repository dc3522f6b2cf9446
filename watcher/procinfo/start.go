package procinfo

import (
	"errors"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// ErrEnded is StartTicks' error for a process that has ended: a zombie,
// or one inside exit.
var ErrEnded = errors.New("procinfo: the process has ended")

// StartTicks is when pid started, in clock ticks (USER_HZ) since boot:
// field 22 of /proc/<pid>/stat. A pid whose process has ended (none, a
// zombie, one inside exit: of its threads, not its leader alone, see
// LeaderEnded) is an error.
func StartTicks(pid int) (uint64, error) {
	b, err := readSmall("/proc/"+strconv.Itoa(pid)+"/stat", make([]byte, statBufSize))
	if err != nil {
		return 0, err
	}
	if ended(pid, b) {
		return 0, ErrEnded
	}
	st, err := parseStat(pid, b)
	if err != nil {
		return 0, err
	}
	return st.Starttime, nil
}

// BootTicks is the time since boot in the unit of StartTicks, rounded
// down: a process forked after this call has a StartTicks at least as
// large (both count CLOCK_BOOTTIME).
func BootTicks() uint64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return 0
	}
	return uint64(ts.Sec)*userHZ + uint64(ts.Nsec)/(1e9/userHZ)
}

// Age is how long pid has lived, to the clock tick (10 ms); ErrEnded, or
// the read's error, for one that has ended.
func Age(pid int) (time.Duration, error) {
	born, err := StartTicks(pid)
	if err != nil {
		return 0, err
	}
	return AgeOf(born), nil
}

// AgeOf is how long a process that started at start (StartTicks,
// Member.Start) has lived, to the clock tick.
func AgeOf(start uint64) time.Duration {
	now := BootTicks()
	if now < start {
		return 0
	}
	return time.Duration(now-start) * (time.Second / userHZ)
}
