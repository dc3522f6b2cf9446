package probe

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/poold/poold/watcher/proctest"
	"golang.org/x/sys/unix"
)

// readPid reads the pid a command wrote to path.
func readPid(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return pid
}

// A hook's background job is killed as the hook exits, and named to
// left first: it was killed with no word, and a daemon a hook started
// with a plain `setsid CMD &` was lost or not at random.
func TestHookNamesWhatItLeft(t *testing.T) {
	pidfile := filepath.Join(t.TempDir(), "pid")
	cmd := fmt.Sprintf(`sh -c 'sleep 997 >/dev/null 2>&1 & echo $! > %s'`, pidfile)
	var got []int
	var described string
	err := Hook(cmd, nil, nil, func(pids []int, d string) { got, described = pids, d }).Check(ctxFor(t, hang))
	if err != nil {
		t.Fatal(err)
	}
	pid := readPid(t, pidfile)
	waitGone(t, pid)
	if len(got) != 1 || got[0] != pid || described != strconv.Itoa(pid)+" (sleep 997)" {
		t.Errorf("left: %v %q, want [%d] %q", got, described, pid, strconv.Itoa(pid)+" (sleep 997)")
	}
	// A hook that leaves nothing says nothing.
	called := false
	if err := Hook("true", nil, nil, func([]int, string) { called = true }).Check(ctxFor(t, hang)); err != nil || called {
		t.Errorf("true: err %v, left called %v", err, called)
	}
}

// The way README "Command hooks" gives to start a daemon from a hook
// (verified here, not a defect's test):
// `setsid -w` returns once the shell, already in a session of its own,
// has started the daemon, so the hook's exit and the kill of its group
// never reach it. Run many times: the form it replaces (`setsid CMD &`
// and exit) lost the daemon in 3 runs of 6.
func TestHookDaemonWithSetsidWaitSurvives(t *testing.T) {
	proctest.Tool(t, "setsid", "util-linux")
	dir := t.TempDir()
	for i := range 40 {
		pidfile := filepath.Join(dir, strconv.Itoa(i))
		// Odd runs: a program that daemonizes itself (forks, and its
		// parent exits), as `setsid -w memcached -d`.
		cmd := fmt.Sprintf(`setsid -w sh -c 'sleep 996 >/dev/null 2>&1 </dev/null & echo $! > %s'`, pidfile)
		if i%2 == 1 {
			cmd = fmt.Sprintf(`setsid -w sh -c '(sleep 996 >/dev/null 2>&1 </dev/null & echo $! > %s); exit 0'`, pidfile)
		}
		var left string
		if err := Hook(cmd, nil, nil, func(_ []int, d string) { left = d }).Check(ctxFor(t, hang)); err != nil {
			t.Fatal(err)
		}
		pid := readPid(t, pidfile)
		// In a session of its own, so out of the hook's group, which the
		// kill reached (alive alone could be a kill not yet delivered).
		sid, err := unix.Getsid(pid)
		alive := proctest.Alive(pid)
		syscall.Kill(pid, syscall.SIGKILL)
		if mine, _ := unix.Getsid(0); err != nil || sid == mine || !alive || left != "" {
			t.Fatalf("run %d: daemon %d alive %v, session %d (%v; the test's %d) after the hook, killed as left behind %q", i, pid, alive, sid, err, mine, left)
		}
	}
}
