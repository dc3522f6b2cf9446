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
		sig      syscall.Signal
		name     string
		upgraded bool // after an in-place upgrade: its new image caught them too (r66 review2 F1)
	}{{syscall.SIGPWR, "PWR", false}, {sigRTMIN + 4, "RTMIN+4", false}, {syscall.SIGPWR, "PWR", true}} {
		name := c.name
		if c.upgraded {
			name += "/after-upgrade"
		}
		t.Run(name, func(t *testing.T) {
			wrap := []string{unshare, "--pid", "--fork", "--mount-proc", "--kill-child"}
			dir := t.TempDir()
			path := writeConfig(t, dir, `
[arbiter]
ENDPOINTS

[watchers.s]
cmd = "/bin/sleep"
args = ["1000"]
`)
			var p *proc
			if c.upgraded { // the built binary: an upgrade execs poold's own file
				p = launchCmd(t, exec.Command(wrap[0], append(wrap[1:], pooldBinary(t), path)...), dir, path, nil)
			} else {
				p = launchPoold(t, wrap, dir, path, nil)
			}
			p.waitLog(`poold started: pid=1 `, 1)
			poold := childOf(t, p.cmd.Process.Pid)
			t.Cleanup(func() { _ = syscall.Kill(poold, syscall.SIGKILL) })
			if c.upgraded {
				if err := syscall.Kill(poold, syscall.SIGUSR2); err != nil {
					t.Fatal(err)
				}
				p.waitLog(`upgrade: took over`, 1)
			}
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
