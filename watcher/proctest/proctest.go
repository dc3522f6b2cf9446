// Package proctest holds the waiting that poold's tests of real processes
// and sockets share: poll a condition until a deadline that only catches a
// hang (Eventually, Poll), ask whether a process still runs (Alive), and
// find an external program a test needs, failing under CI without it
// (Tool), open a loopback listener to hand to a worker (ListenerFile),
// and tell which processes a test binary started outlived it (Marked,
// Survivors, with Held in the helper test that starts them).
//
// It imports no project package, so a test anywhere in the module may use
// it without bending the one-way imports of DESIGN.md; only tests may
// (cmd/poold/deps_test.go gives no other package a rule for it).
//
// Concurrency: the functions keep no state and may run on any goroutine;
// cond runs on the caller's. Eventually calls t.Fatalf, so like any
// FailNow it belongs on the goroutine running the test.
package proctest

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// hang bounds Eventually: far longer than any wait a working test makes,
// even under -race on a busy machine, so it fails only on a hang.
const hang = 60 * time.Second

// tick is how often a condition is checked.
const tick = 10 * time.Millisecond

// Eventually checks cond until it holds, and fails the test naming what it
// waited for if it still does not after a generous bound.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	eventually(t, hang, what, cond)
}

func eventually(t testing.TB, bound time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Poll(bound, cond) {
		t.Fatalf("waited %v for %s: still not so", bound, what)
	}
}

// Poll checks cond every few milliseconds until it holds (true) or d has
// passed and one last check fails (false). For a caller that must act
// before failing (kill what it started, report a state) or that retries.
func Poll(d time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tk := time.NewTicker(tick)
	defer tk.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			return cond()
		case <-tk.C:
		}
	}
	return true
}

// Alive reports whether process pid is running: false once it has exited,
// even while it is a zombie its parent has not reaped yet.
func Alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// "pid (comm) S ...": comm may hold spaces and parentheses.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(fields) > 0 && fields[0] != "Z" && fields[0] != "X"
}
