package handover

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
)

// ErrNotStarted is Started's error when ctx ended before the worker was
// seen asleep or had used its share of CPU.
var ErrNotStarted = errors.New("neither seen asleep nor seen using CPU since its start")

// clockTick is the unit of utime and stime in /proc/PID/stat (USER_HZ,
// 100 on every Linux architecture poold runs on).
const clockTick = 10 * time.Millisecond

// Started looks at pid, a worker with no socket to be seen waiting on,
// until it has started: it sleeps (state S: it waits for something, a
// timer, a pipe, a broker's answer, as a worker that has begun its work
// does), or it has used cpu of CPU time (a worker that computes without
// sleeping). A program that fails at once (a bad argument, a missing
// module) does neither before it exits, however long the machine's load
// keeps it waiting for a CPU: then Started returns ErrExited (wrapped).
// It checks often at first, then every 25 ms, and returns ErrNotStarted
// once ctx ends (a worker stopped by a signal, or stuck in a disk wait),
// or the error that kept it from reading pid's state.
func Started(ctx context.Context, pid int, cpu time.Duration) error {
	every := time.Millisecond
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("pid %d %w", pid, ErrNotStarted)
		case <-t.C:
		}
		state, used, err := stateOf(pid)
		dead := errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ESRCH) || state == 'Z' || state == 'X'
		switch {
		case dead && exited(pid):
			return fmt.Errorf("pid %d %w", pid, ErrExited)
		case dead:
			// Its first thread has ended while others run (an exec
			// from another thread, until it is done; see ended).
		case err != nil:
			return fmt.Errorf("pid %d: %w", pid, err)
		case state == 'S' || used >= cpu:
			return nil
		}
		t.Reset(every)
		every = min(2*every, 25*time.Millisecond)
	}
}

// stateOf reads a process's state and the CPU time it has used (user and
// system) from /proc/PID/stat: the fields after the ")" that ends the
// command name are state, then 10 others, then utime and stime.
func stateOf(pid int) (byte, time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	i := bytes.LastIndexByte(b, ')')
	var f [][]byte
	if i >= 0 {
		f = bytes.Fields(b[i+1:])
	}
	if len(f) < 13 || len(f[0]) != 1 {
		return 0, 0, fmt.Errorf("unexpected /proc/%d/stat: %q", pid, b)
	}
	utime, err1 := strconv.ParseUint(string(f[11]), 10, 64)
	stime, err2 := strconv.ParseUint(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("unexpected CPU times in /proc/%d/stat: %q", pid, b)
	}
	return f[0][0], time.Duration(utime+stime) * clockTick, nil
}
