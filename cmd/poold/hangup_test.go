package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/poold/poold/watcher/proctest"
)

// Closing the terminal poold ran in (a window, a tmux session, an ssh
// connection) sent it, or the shell that passes it on, SIGHUP: poold
// reloaded its config and ran on, orphaned, holding every port, its log
// going nowhere, and the next start failed ("another poold is already
// listening"). It stops as on SIGTERM, each worker with it; its log
// lines to the hung-up terminal (EIO) cost nothing.
func TestTerminalHangupStopsPoold(t *testing.T) {
	master, slave := openHangablePty(t)
	out := drainPty(t, master)
	p := startOnPty(t, slave, true)
	worker := waitWorkerPid(t, out)
	master.Close() // the terminal window closes
	if code := p.wait(t); code != 0 {
		t.Fatalf("poold exited %d after its terminal hung up, want 0 (a graceful stop)", code)
	}
	waitGone(t, worker)
}

// A kill -HUP while poold's terminal lives is the reload it always was;
// once the terminal hangs up, the next SIGHUP stops poold, once,
// logging why. Its stderr here is not the terminal, so the log can be
// read after the hangup.
func TestSIGHUPReloadsUntilTheTerminalHangsUp(t *testing.T) {
	master, slave := openHangablePty(t)
	drainPty(t, master)
	p := startOnPty(t, slave, false)
	log := p.log
	m := regexp.MustCompile(`worker (\d+) serving`)
	proctest.Eventually(t, "the worker serves", func() bool { return m.MatchString(log.String()) })
	worker, _ := strconv.Atoi(m.FindStringSubmatch(log.String())[1])
	p.cmd.Process.Signal(syscall.SIGHUP)
	proctest.Eventually(t, "the reload done", func() bool { return strings.Contains(log.String(), "config reloaded") })
	select {
	case <-p.done:
		t.Fatalf("poold exited on a SIGHUP with its terminal alive:\n%s", log.String())
	default:
	}
	master.Close()
	if code := p.wait(t); code != 0 {
		t.Fatalf("poold exited %d after its terminal hung up, want 0", code)
	}
	s := log.String()
	if n := strings.Count(s, "the terminal hung up: stopping, as on SIGTERM"); n != 1 {
		t.Errorf("%d lines say the terminal hung up, want 1:\n%s", n, s)
	}
	if n := strings.Count(s, "SIGHUP: reloading config"); n != 1 {
		t.Errorf("%d reloads, want only the one asked for while the terminal lived:\n%s", n, s)
	}
	waitGone(t, worker)
}

// The usual case: poold runs in the foreground of an interactive shell,
// whose session the terminal controls. On the hangup the kernel sends
// SIGHUP to the shell, which passes it on to its jobs and exits.
func TestTerminalHangupStopsPooldRunByAShell(t *testing.T) {
	// Typed at the prompt; its log goes to a file to be read after.
	master, pid, worker, log := pooldTypedOnPty(t, "%s %s 2>%s\n")
	defer syscall.Kill(pid, syscall.SIGKILL) // should the test fail: no poold left behind
	master.Close()
	// poold's parent, the shell, is gone: it is a zombie of init's, or gone.
	proctest.Eventually(t, "poold stopped", func() bool {
		s := procState(pid)
		return (s == "Z" || s == "") && strings.Contains(log(), "poold stopped")
	})
	if !strings.Contains(log(), "the terminal hung up: stopping, as on SIGTERM") {
		t.Errorf("no line says the terminal hung up:\n%s", log())
	}
	waitGone(t, worker)
}

// A poold started under nohup (SIGHUP ignored) was asked to outlive its
// terminal: the shell's SIGHUP on the hangup reloads it, as before the
// hangup check, and it runs on.
func TestNohupPooldOutlivesItsTerminal(t *testing.T) {
	master, pid, worker, log := pooldTypedOnPty(t, "nohup %s %s >/dev/null 2>%s &\n")
	defer func() {
		syscall.Kill(pid, syscall.SIGTERM)
		waitGone(t, worker)
	}()
	master.Close()
	proctest.Eventually(t, "the shell's SIGHUP reloads poold", func() bool { return strings.Contains(log(), "config reloaded") })
	if s := procState(pid); s == "Z" || s == "" {
		t.Fatalf("poold under nohup ended as its terminal hung up:\n%s", log())
	}
	if strings.Contains(log(), "the terminal hung up") {
		t.Errorf("poold under nohup took the hangup for a stop:\n%s", log())
	}
}

// pooldTypedOnPty types line into an interactive shell on a pty (shellOnPty)
// to start poold on serveConfig: line is a format given poold's binary, its
// config and the file its log goes to. It returns the pty's master, the
// pids of poold and its worker, and a reader of the log.
func pooldTypedOnPty(t *testing.T, line string) (master *os.File, pid, worker int, log func() string) {
	t.Helper()
	dir := t.TempDir()
	cfg := writeConfig(t, dir, serveConfig)
	logFile := filepath.Join(dir, "poold.log")
	master = shellOnPty(t, dir)
	if _, err := fmt.Fprintf(master, line, pooldBinary(t), cfg, logFile); err != nil {
		t.Fatal(err)
	}
	log = func() string { b, _ := os.ReadFile(logFile); return string(b) }
	pid, worker = pooldAndWorker(t, log)
	return master, pid, worker, log
}

// shellOnPty starts an interactive bash in dir as the leader of a
// session that a new pty controls, and returns the pty's master: what is
// written to it is typed at the prompt, and closing it hangs the
// terminal up. The shell is killed and waited for at the test's end.
func shellOnPty(t *testing.T, dir string) *os.File {
	t.Helper()
	master, slave := openHangablePty(t)
	drainPty(t, master)
	tty, err := os.OpenFile(slave, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	shell := exec.Command("/bin/bash", "--norc", "--noprofile", "-i")
	shell.Dir = dir // where a command typed there writes (nohup.out)
	shell.Stdin, shell.Stdout, shell.Stderr = tty, tty, tty
	shell.Env = append(os.Environ(), "HISTFILE=/dev/null", "PS1=$ ")
	shell.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0, Pdeathsig: syscall.SIGKILL}
	if err := shell.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		shell.Process.Kill()
		shell.Wait()
	})
	return master
}

// pooldAndWorker waits until log, a poold's, names its pid and its
// worker's (serveConfig's worker says it serves).
func pooldAndWorker(t *testing.T, log func() string) (pid, worker int) {
	t.Helper()
	proctest.Eventually(t, "poold started and its worker serves", func() bool {
		s := log()
		if m := regexp.MustCompile(`poold started: .*pid=(\d+)`).FindStringSubmatch(s); m != nil {
			pid, _ = strconv.Atoi(m[1])
		}
		if m := regexp.MustCompile(`worker (\d+) serving`).FindStringSubmatch(s); m != nil {
			worker, _ = strconv.Atoi(m[1])
		}
		return pid > 0 && worker > 0
	})
	return pid, worker
}

// openHangablePty is openPty with a master whose Close closes it at once,
// hanging its terminal up, while drainPty reads it: openPty's master is
// in blocking mode (its Fd was taken), and the close of a file with a
// read in progress waits for that read to return.
func openHangablePty(t *testing.T) (*os.File, string) {
	t.Helper()
	// Ignored here, SIGHUP is ignored in every poold these tests start
	// (an ignored signal stays so across exec): each takes itself for a
	// poold under nohup and reloads where the tests want it to stop.
	if signal.Ignored(syscall.SIGHUP) {
		t.Fatal("this test binary runs with SIGHUP ignored (started under nohup?), and so would the poold it starts: run it where SIGHUP is not ignored (setsid instead of nohup)")
	}
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open /dev/ptmx: %v", err)
	}
	m := os.NewFile(uintptr(fd), "/dev/ptmx") // non-blocking: read through the poller
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlock the pty: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pty number: %v", err)
	}
	return m, fmt.Sprintf("/dev/pts/%d", n)
}

// startOnPty runs the poold binary on serveConfig as the leader of a
// session of its own that slave controls, with stdin and stdout on it;
// stderr too when onTerminal, else into the returned proc's log.
func startOnPty(t *testing.T, slave string, onTerminal bool) *binProc {
	t.Helper()
	tty, err := os.OpenFile(slave, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close() // poold holds its own copies
	cfg := writeConfig(t, t.TempDir(), serveConfig)
	p := &binProc{log: new(lockedBuffer), done: make(chan struct{}), cfg: cfg, cmd: exec.Command(pooldBinary(t), cfg)}
	p.cmd.Stdin, p.cmd.Stdout, p.cmd.Stderr = tty, tty, tty
	if !onTerminal {
		p.cmd.Stderr = p.log
	}
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0, Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			killLeftovers(descendants(p.cmd.Process.Pid))
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() && !onTerminal {
			t.Logf("poold log:\n%s", p.log.String())
		}
	})
	return p
}

// drainPty reads what is written to the terminal of master, so that no
// writer blocks on it, until master is closed.
func drainPty(t *testing.T, master *os.File) *lockedBuffer {
	out := new(lockedBuffer)
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		_, _ = io.Copy(out, master)
	}()
	t.Cleanup(func() {
		master.Close()
		<-drained
		if t.Failed() {
			t.Logf("the terminal showed:\n%s", out.String())
		}
	})
	return out
}

// waitWorkerPid waits for the serve worker's line in out and returns its
// pid.
func waitWorkerPid(t *testing.T, out *lockedBuffer) int {
	t.Helper()
	m := regexp.MustCompile(`worker (\d+) serving`)
	proctest.Eventually(t, "the worker serves", func() bool { return m.MatchString(out.String()) })
	pid, _ := strconv.Atoi(m.FindStringSubmatch(out.String())[1])
	return pid
}

// waitGone waits until pid has exited (a zombie counts: its parent reaps
// it).
func waitGone(t *testing.T, pid int) {
	t.Helper()
	proctest.Eventually(t, fmt.Sprintf("worker %d gone", pid), func() bool {
		s := procState(pid)
		return s == "" || s == "Z"
	})
}
