package main

import (
	"os"
	"os/exec"
	"regexp"
	"syscall"
	"testing"
)

// As PID 1, SIGPWR (LXC, Incus) and SIGRTMIN+4 (machinectl poweroff)
// stop poold as SIGTERM does, saying which signal; SIGWINCH is logged
// once as ignored. They were dropped silently, so such a stop waited its
// whole timeout and then killed every worker (r66 pid1 L2).
func TestPID1HaltSignals(t *testing.T) {
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no unshare (util-linux): %v", err)
		}
		t.Skip("no unshare")
	}
	for _, c := range []struct {
		sig  syscall.Signal
		name string
	}{{syscall.SIGPWR, "PWR"}, {sigRTMIN + 4, "RTMIN+4"}} {
		t.Run(c.name, func(t *testing.T) {
			p := startPooldUnder(t, []string{unshare, "--pid", "--fork", "--mount-proc", "--kill-child"}, t.TempDir(), `
[arbiter]
ENDPOINTS

[watchers.s]
cmd = "/bin/sleep"
args = ["1000"]
`, nil)
			p.waitLog(`poold started: pid=1 `, 1)
			poold := childOf(t, p.cmd.Process.Pid)
			t.Cleanup(func() { _ = syscall.Kill(poold, syscall.SIGKILL) })
			for i := 0; i < 2; i++ {
				if err := syscall.Kill(poold, syscall.SIGWINCH); err != nil {
					t.Fatal(err)
				}
			}
			p.waitLog(`signal ignored \(said once\).*signal=WINCH`, 1)
			if err := syscall.Kill(poold, c.sig); err != nil {
				t.Fatal(err)
			}
			p.waitLog(`as PID 1, taking the signal as a stop request.*signal="?`+regexp.QuoteMeta(c.name), 1)
			if code := p.wait(); code != 0 {
				t.Fatalf("poold as PID 1 exited %d after SIG%s, want 0", code, c.name)
			}
			if n := len(regexp.MustCompile(`signal ignored \(said once\)`).FindAllString(p.log.String(), -1)); n != 1 {
				t.Errorf("the ignored SIGWINCH was logged %d times, want once:\n%s", n, p.log.String())
			}
		})
	}
}
