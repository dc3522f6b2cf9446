package spawn

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// stackRaces is how many pairs of starts TestStackLimitThroughTheStub
// makes: the race it guards against lost the stack limit of 1 start in 4
// on a loaded 2-core machine, 1 in 100 to 200 on a quieter one, and the
// test failed in 4 of 5 runs with 200. On a single CPU the race seems not
// to happen (the stub finished its exec before poold ran again in 300 of
// 300 starts pinned to one CPU), and the test then proves nothing.
const stackRaces = 500

// stubSilences bounds the pairs TestStackLimitThroughTheStub may lose to
// a start given up because the stub did not say within execStatusWait
// that its own exec was over (a stub starved on a loaded machine): each
// costs that second, so the bound only catches a stub that never says so.
const stubSilences = 30

// TestStackLimitThroughTheStub: Go's fork returns once the stub's exec
// has closed the close-on-exec fds, while the kernel is still loading
// the stub; poold then set the rlimits from outside at once, and the end
// of that exec wrote back the stack limit it had started with (the
// kernel keeps RLIMIT_STACK aside for the whole exec). The worker then
// ran with poold's stack limit (8 MiB soft, unlimited hard), and one
// whose arguments were over what its own limit allows (a quarter of it)
// started where it must fail with E2BIG (r55 newcomerfix: /usr/bin/sleep
// with rlimits.stack = 1 MiB and 300 KB of arguments ran, after many
// E2BIGs). The stub now tells poold that its own exec is over before
// poold sets anything. Each worker's limits are read in
// /proc/PID/limits.
//
// A loaded machine may starve the stub past either of execStatusWait's
// bounds: before it says it started, the start is given up (not a pair:
// another is made); after poold let it go, Wait counts it as started and
// its exit 127 says why (checkTooBig). Neither runs a worker without its
// limits, which is what this test is about (r58: "start 34: a worker
// whose arguments its stack limit cannot take ran, with stack
// 1048576/1048576" was the second).
func TestStackLimitThroughTheStub(t *testing.T) {
	const stack = 1 << 20
	s := runSpawner(t, "")
	limits := map[int]uint64{unix.RLIMIT_STACK: stack, unix.RLIMIT_NOFILE: 777}
	fits := ProcSpec{Path: "/bin/sleep", Argv: []string{"sleep", "1000"}, Umask: -1, Rlimits: limits}
	big := strings.Repeat("1", 100000) // 3 of them: over 256 KiB, under poold's 2 MiB
	tooBig := ProcSpec{Path: "/bin/sleep", Argv: []string{"sleep", big, big, big}, Umask: -1, Rlimits: limits}
	if got := step(s.Spawner, fits); got != "stub" {
		t.Fatalf("exec step %s, want stub", got)
	}
	silent := 0
	for i := 0; i < stackRaces; {
		if checkFits(t, s.Spawner, i, fits) && checkTooBig(t, s.Spawner, i, tooBig) {
			i++
			continue
		}
		if silent++; silent > stubSilences {
			t.Fatalf("start %d: %d starts given up: does the stub never say its exec is over?", i, silent)
		}
	}
}

// stubSilent says whether err is a start given up because the stub did
// not say in time that its own exec was over (stubStarted).
func stubSilent(t testing.TB, i int, err error) bool {
	t.Helper()
	if !errors.Is(err, errStubLate) {
		return false
	}
	t.Logf("start %d given up, not a pair: %v", i, err)
	return true
}

// checkFits starts fits, which must run with its limits; false when the
// start was given up (stubSilent).
func checkFits(t testing.TB, s *Spawner, i int, fits ProcSpec) bool {
	t.Helper()
	p, err := s.Start(fits)
	if stubSilent(t, i, err) {
		return false
	}
	if err != nil {
		t.Fatalf("start %d: %v", i, err)
	}
	got := procLimits(t, p.Pid)
	_ = syscall.Kill(p.Pid, syscall.SIGKILL) // not reaped yet: still ours
	if _, err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	if want := "stack 1048576/1048576 nofile 777/777"; got != want {
		t.Fatalf("start %d: the worker has %s, want %s", i, got, want)
	}
	return true
}

// checkTooBig starts tooBig, whose arguments its stack limit cannot
// take: Start fails with E2BIG, or, when the stub's exec of the worker
// ended after Wait's bound (execStatusWait), which then counts the stub
// as started, the stub exits 127 and says E2BIG on the worker's stderr.
// False when the start was given up (stubSilent).
func checkTooBig(t testing.TB, s *Spawner, i int, tooBig ProcSpec) bool {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	tooBig.Stderr = w
	p, err := s.Start(tooBig)
	w.Close() // the stub has its own
	switch {
	case stubSilent(t, i, err):
		return false
	case errors.Is(err, syscall.E2BIG):
		return true
	case err != nil:
		t.Fatalf("start %d of a worker too big for its stack limit: %v, want E2BIG", i, err)
	}
	// Its stderr ends when it exits; a worker that runs holds it open.
	_ = r.SetReadDeadline(time.Now().Add(time.Minute)) // only a hang
	said, err := io.ReadAll(r)
	if err != nil {
		got := procLimits(t, p.Pid)
		_ = syscall.Kill(p.Pid, syscall.SIGKILL)
		_, _ = p.Wait()
		t.Fatalf("start %d: a worker whose arguments its stack limit cannot take ran, with %s", i, got)
	}
	ex, err := p.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if ex.Code != 127 || !strings.Contains(string(said), "argument list too long") {
		t.Fatalf("start %d: a worker too big for its stack limit ended with %v, stderr %q; want exit 127 and E2BIG", i, ex, said)
	}
	t.Logf("start %d: counted as started past Wait's bound, then %v: %q", i, ex, said)
	return true
}

// procLimits is pid's stack and nofile limits as /proc/PID/limits shows
// them: "stack SOFT/HARD nofile SOFT/HARD".
func procLimits(t testing.TB, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		for name, title := range map[string]string{"stack": "Max stack size", "nofile": "Max open files"} {
			if rest, ok := strings.CutPrefix(line, title); ok {
				if f := strings.Fields(rest); len(f) >= 2 {
					got[name] = f[0] + "/" + f[1]
				}
			}
		}
	}
	return "stack " + got["stack"] + " nofile " + got["nofile"]
}

// TestStubStartedBounded: poold waits for the stub's word that its exec
// is over on the spawner's thread, so that wait must end: with an error
// when the stub ends without it, and after execStatusWait when it never
// comes (a stub stopped, or starved on an overloaded machine), rather
// than let the worker go without its limits.
func TestStubStartedBounded(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		write      []byte // what the stub wrote; nil: nothing
		closeW     bool   // the stub has ended
	}{
		{"started", "", []byte{'w'}, false},
		{"ended", "the stub ended before poold could set the worker's rlimits", nil, true},
		{"silent", "the stub did not start within " + execStatusWait.String(), nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, w, err := newStatusPipe("/bin/true", "poold's exec stub", 0)
			if err != nil {
				t.Fatal(err)
			}
			defer st.close()
			defer func() {
				if !tc.closeW {
					_ = syscall.Close(w)
				}
			}()
			if tc.write != nil {
				if _, err := syscall.Write(w, tc.write); err != nil {
					t.Fatal(err)
				}
			}
			if tc.closeW {
				_ = syscall.Close(w)
			}
			err = st.stubStarted()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("stubStarted: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("stubStarted: %v, want %q", err, tc.want)
			}
			if late := errors.Is(err, errStubLate); late != (tc.name == "silent") {
				t.Fatalf("stubStarted: %v: errors.Is errStubLate %v", err, late)
			}
		})
	}
}
