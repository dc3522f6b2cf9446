package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/poold/poold/watcher/proctest"
)

// hookDaemonScript is a hook that starts a setsid daemon, writes its pid
// to PIDFILE and exits 0 (a "start the sidecar" after_start hook).
const hookDaemonScript = `#!/bin/sh
setsid sh -c 'sleep 1000 & echo $! >> "$0"; exit 0' PIDFILE >/dev/null 2>&1 &
wait
exit 0
`

// With a cgroup per worker, poold stopped as it exited only the workers'
// cgroups: a daemon one of its hooks had started (in no worker's cgroup)
// went on under init once poold exited, unseen and stopped by nobody. It
// is now stopped as with process groups only, and named in the log.
func TestExitStopsAHooksDaemonUnderCgroups(t *testing.T) {
	t.Parallel()
	dir := openTempDir(t)
	pidfile := filepath.Join(dir, "daemons")
	script := filepath.Join(dir, "hook.sh")
	if err := os.WriteFile(script, []byte(strings.ReplaceAll(hookDaemonScript, "PIDFILE", pidfile)), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf("[arbiter]\nENDPOINTS\n\n[watchers.w]\ncmd = \"sleep\"\nargs = [\"1000\"]\nhooks = { after_start = %q }\n", script)
	p := startBinaryIn(t, dir, cfg, nil)
	p.waitLogBin(t, `containment: (a cgroup per worker)`)
	daemon := daemons(t, pidfile, 1)[0]
	t.Cleanup(func() { _ = syscall.Kill(daemon, syscall.SIGKILL) })
	proctest.Eventually(t, "the daemon runs sleep (its shell has exec'd it)", func() bool {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", daemon))
		return err == nil && strings.TrimSpace(string(b)) == "sleep"
	})
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}
	if proctest.Alive(daemon) {
		t.Fatalf("daemon %d that an after_start hook started outlived poold:\n%s", daemon, p.log.String())
	}
	if !regexp.MustCompile(`stopping poold.s child processes that are no worker.s.*processes="[^"]*\b` + strconv.Itoa(daemon) + ` \(sleep 1000\)`).MatchString(p.log.String()) {
		t.Errorf("the log does not name daemon %d among what poold stopped as it exited:\n%s", daemon, p.log.String())
	}
}

// A hook's background job was SIGKILLed as the hook exited with no word
// in the log (and a daemon started with a plain `setsid CMD &` was lost
// or kept at random). poold still kills it, as the rest of what a hook
// leaves in its group, and now says so, naming the watcher, the hook and
// each pid with its command line.
func TestHookLeftoversAreNamedAsKilled(t *testing.T) {
	t.Parallel()
	dir := openTempDir(t)
	script, pidfile := writeScript(t, dir, "hook.sh", "#!/bin/sh\nsleep 998 >/dev/null 2>&1 &\necho $! > PIDFILE\n")
	killAtEnd(t, pidfile)
	cfg := fmt.Sprintf("[arbiter]\nENDPOINTS\n\n[watchers.w]\ncmd = \"sleep\"\nargs = [\"1000\"]\nhooks = { after_start = %q }\n", script)
	p := startBinaryIn(t, dir, cfg, withoutCgroups)
	left := daemons(t, pidfile, 1)[0]
	proctest.Eventually(t, fmt.Sprintf("the hook's leftover %d killed", left), func() bool { return !proctest.Alive(left) })
	line := p.waitLogBin(t, `(the hook exited leaving processes in its process group; poold killed them.*)`)
	// Its command line: sleep's, or the script's if the fork had not
	// exec'd sleep yet when poold looked.
	for _, want := range []string{"hook=after_start", "watcher=w", `killed="` + strconv.Itoa(left) + ` (`} {
		if !strings.Contains(line, want) {
			t.Errorf("the line does not say %s: %s", want, line)
		}
	}
}
