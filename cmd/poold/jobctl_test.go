package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/poold/poold/watcher/proctest"
)

// poold in a process group of its own whose parent shares its session
// (a job of an interactive shell, a program of supervisord) was stopped
// for good by `kill -TTIN`, gunicorn's way to add a worker: state T, no
// respawn, no answer to poolctl. It logs how to scale instead and goes
// on serving.
func TestSIGTTINAndSIGTTOUDoNotStopPoold(t *testing.T) {
	p := startBinaryWith(t, serveConfig, func(a *syscall.SysProcAttr) { a.Setpgid = true })
	p.waitLogBin(t, `worker (\d+) serving`)
	pid := p.cmd.Process.Pid
	for i, sig := range []syscall.Signal{syscall.SIGTTIN, syscall.SIGTTOU} {
		if err := p.cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		proctest.Eventually(t, fmt.Sprintf("poold logs that it ignored %v", sig), func() bool {
			if s := procState(pid); s == "T" {
				t.Fatalf("poold is stopped (state %s) after %v", s, sig)
			}
			return strings.Count(p.log.String(), "signal ignored: poold does not scale") > i
		})
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit code %d after SIGTTIN, SIGTTOU and SIGTERM, want 0", code)
	}
}

// procState is the state letter of pid in /proc/PID/stat ("" if gone).
func procState(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+3 <= len(s) {
		return s[i+2 : i+3]
	}
	return ""
}

// openPty opens a pseudo-terminal: its master and the path of its slave.
func openPty(t *testing.T) (*os.File, string) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open /dev/ptmx: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlock the pty: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pty number: %v", err)
	}
	return m, fmt.Sprintf("/dev/pts/%d", n)
}

// poold run as a background job of a shell with job control, on a
// terminal with `stty tostop`, writes its log there: the terminal sends
// it SIGTTOU, which stops a job until `fg`. poold caught it and
// signal.Reset did not give the default back (Go keeps its handler), so
// the write was retried at once, forever: poold ran at 40 % of a core,
// logging nothing. It stops its job, as the default action would.
func TestBackgroundPooldStopsOnTheTerminalsSIGTTOU(t *testing.T) {
	dir := t.TempDir()
	pid, tty, out := startBackgroundJob(t, dir, writeConfig(t, dir, serveConfig), nil)
	proctest.Eventually(t, "poold, a background writer with tostop, stopped", func() bool {
		return procState(pid) == "T"
	})
	// Continued, it serves; the terminal's SIGTTOUs queued before the
	// stop were warned of as signals sent to scale (r50b review). Those
	// come before a SIGTTIN sent now.
	continueWithoutTostop(t, tty, pid)
	proctest.Eventually(t, "poold started", func() bool { return strings.Contains(out.String(), "poold started") })
	if err := syscall.Kill(pid, syscall.SIGTTIN); err != nil {
		t.Fatal(err)
	}
	proctest.Eventually(t, "SIGTTIN warned of", func() bool { return strings.Contains(out.String(), "signal ignored") })
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.Contains(l, "signal ignored") && !strings.Contains(l, "TTIN") {
			t.Errorf("a warning of a signal nobody sent: %s", l)
		}
	}
}

// A poold that fails to start writes its error after its signal loop has
// gone: the terminal's SIGTTOU went to Go's handler, which ignores it, and
// the write was retried forever (a core's worth of CPU, never stopping,
// never exiting). It stops its job too, and the error is written when the
// job is brought to the foreground. So does an upgrade's new image that
// cannot take over: its catch package takes SIGTTOU from its start.
func TestBackgroundPooldThatFailsStopsOnTheTerminalsSIGTTOU(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "poold.toml")
	if err := os.WriteFile(cfg, []byte("[arbiter]\nno_such_key = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, want string
		env        []string
	}{
		{"a bad config", "no_such_key", nil},
		{"an upgrade's new image", "POOLD_UPGRADE_FDS", []string{"POOLD_UPGRADE_FDS=nonsense"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			pid, tty, out := startBackgroundJob(t, t.TempDir(), cfg, c.env)
			proctest.Eventually(t, "poold, failing as a background writer with tostop, stopped", func() bool {
				return procState(pid) == "T"
			})
			continueWithoutTostop(t, tty, pid)
			proctest.Eventually(t, "poold, continued, wrote its error and exited", func() bool {
				s := procState(pid) // a zombie: the shell, now sleep, reaps nothing
				if s == "T" {
					t.Fatalf("poold stopped again after it was continued with tostop off; output %q", out.String())
				}
				return (s == "Z" || s == "") && strings.Contains(out.String(), c.want)
			})
		})
	}
}

// continueWithoutTostop does what `stty -tostop; bg` would: the job's
// writes go through.
func continueWithoutTostop(t *testing.T, tty *os.File, pid int) {
	t.Helper()
	tio, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	tio.Lflag &^= unix.TOSTOP
	if err := unix.IoctlSetTermios(int(tty.Fd()), unix.TCSETS, tio); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
}

// startBackgroundJob runs poold on cfg as a background job of a shell with
// job control on a terminal set to `stty tostop`, and returns its pid, the
// terminal and what was written to it. env is added to poold's.
func startBackgroundJob(t *testing.T, dir, cfg string, env []string) (int, *os.File, *lockedBuffer) {
	t.Helper()
	master, slave := openPty(t)
	out := new(lockedBuffer)
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		_, _ = io.Copy(out, master)
	}()
	t.Cleanup(func() { master.Close(); <-drained })
	tty, err := os.OpenFile(slave, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tty.Close() })
	pidFile := filepath.Join(dir, "poold.pid")
	shell := exec.Command("/bin/bash", "-m", "-c", `stty tostop; "$0" "$1" & echo $! > "$2"; exec sleep 3600`, pooldBinary(t), cfg, pidFile)
	shell.Stdin, shell.Stdout, shell.Stderr = tty, tty, tty
	shell.Env = append(os.Environ(), env...)
	// The shell stays (as sleep) in the session: a job whose parent
	// left it is orphaned, and the kernel continues an orphaned stopped
	// job (SIGHUP, SIGCONT).
	shell.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := shell.Start(); err != nil {
		t.Fatal(err)
	}
	var pid int
	t.Cleanup(func() {
		if pid > 0 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			_ = syscall.Kill(pid, syscall.SIGCONT)
		}
		_ = shell.Process.Kill()
		_ = shell.Wait()
	})
	proctest.Eventually(t, "the shell says poold's pid", func() bool {
		b, err := os.ReadFile(pidFile)
		pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil && pid > 0
	})
	return pid, tty, out
}

// stopJobRounds is how many times the child of TestStopJobReturnsOnlyOnceContinued
// stops itself.
const stopJobRounds = 100

// TestStopJobReturnsOnlyOnceContinued runs a child that calls stopJob and
// writes a byte after each return: no byte may come while it is stopped.
// A stop of the whole process let the calling thread run on (and decide
// on a terminal state that had changed since), so a byte came before the
// stop and the next stop came after the continue.
func TestStopJobReturnsOnlyOnceContinued(t *testing.T) {
	if os.Getenv("POOLD_TEST_STOPJOB") == "1" {
		for range stopJobRounds {
			stopJob()
			if _, err := os.Stdout.Write([]byte{'.'}); err != nil {
				os.Exit(3)
			}
		}
		os.Exit(0)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	child := exec.Command(os.Args[0], "-test.run=^TestStopJobReturnsOnlyOnceContinued$")
	child.Env = append(os.Environ(), "POOLD_TEST_STOPJOB=1")
	child.Stdout = w
	child.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	pid := child.Process.Pid
	defer func() {
		_ = child.Process.Kill()
		_ = syscall.Kill(pid, syscall.SIGCONT)
		_ = child.Wait()
	}()
	for i := range stopJobRounds {
		proctest.Eventually(t, fmt.Sprintf("the child stopped for the %d. time", i+1), func() bool {
			return procState(pid) == "T"
		})
		written, err := unix.IoctlGetInt(int(r.Fd()), unix.TIOCINQ) // FIONREAD: bytes in the pipe
		if err != nil {
			t.Fatal(err)
		}
		if written != i {
			t.Fatalf("stopped for the %d. time with %d bytes written: stopJob returned before the child was continued", i+1, written)
		}
		if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
	}
	if err := child.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
}
