package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/poold/poold/watcher/proctest"
)

// openPTY returns a new pseudo-terminal's master and slave.
func openPTY(t testing.TB) (master, slave *os.File) {
	t.Helper()
	// Non-blocking, so the runtime poller owns it and Close ends a Read.
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open /dev/ptmx: %v", err)
	}
	// Ioctls go to the raw fd: File.Fd would switch it back to blocking
	// mode, and then Close could not end a Read.
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlock pty: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pty number: %v", err)
	}
	m := os.NewFile(uintptr(fd), "/dev/ptmx")
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open pty slave: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return m, s
}

// TestTopTerminal runs the poolctl binary's top on a pseudo-terminal and
// quits it each way a user can; the terminal must be restored every time.
func TestTopTerminal(t *testing.T) {
	p := startPoold(t)
	bin := filepath.Join(binaries(t), "poolctl")
	quits := []struct {
		name string
		quit func(t *testing.T, master *os.File, cmd *exec.Cmd)
	}{
		{"q", func(t *testing.T, m *os.File, _ *exec.Cmd) { m.Write([]byte("q")) }},
		{"ctrl-c", func(t *testing.T, m *os.File, _ *exec.Cmd) { m.Write([]byte{3}) }},
		{"sigterm", func(t *testing.T, _ *os.File, c *exec.Cmd) { syscall.Kill(c.Process.Pid, syscall.SIGTERM) }},
	}
	for _, q := range quits {
		t.Run(q.name, func(t *testing.T) {
			master, slave := openPTY(t)
			before, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(bin, "--endpoint", p.control, "top", "--interval", "100ms")
			cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
			cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			out := &syncBuffer{}
			readDone := make(chan struct{})
			go func() {
				defer close(readDone)
				buf := make([]byte, 4096)
				for {
					n, err := master.Read(buf)
					out.Write(buf[:n])
					if err != nil {
						return
					}
				}
			}()
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			defer func() {
				master.Close()
				<-readDone
			}()

			if !proctest.Poll(15*time.Second, func() bool { return strings.Count(out.String(), "poold top") >= 2 }) {
				syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
				<-exited
				t.Fatalf("no two frames of top within 15s; output %q", out.String())
			}
			q.quit(t, master, cmd)
			select {
			case err := <-exited:
				if err != nil {
					t.Errorf("top exited with %v, want 0; output %q", err, out.String())
				}
			case <-time.After(10 * time.Second):
				syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
				<-exited
				t.Fatalf("top did not quit on %s; output %q", q.name, out.String())
			}
			after, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
			if err != nil {
				t.Fatal(err)
			}
			if after.Lflag != before.Lflag {
				t.Errorf("terminal modes not restored: lflag %#x, was %#x", after.Lflag, before.Lflag)
			}
			// The reader may still be copying the last bytes.
			proctest.Poll(5*time.Second, func() bool { return strings.Contains(out.String(), "\x1b[?1049l") })
			got := out.String()
			if !strings.Contains(got, "\x1b[?1049h") || !strings.Contains(got, "\x1b[?25h\x1b[?1049l") {
				t.Errorf("screen not entered and left: %q", got)
			}
			if !strings.Contains(got, "(q quits)") || !strings.Contains(got, "web  active") {
				t.Errorf("frame: %q", got)
			}
		})
	}
}

// TestTopSnapshotOnATerminal: a snapshot (-n 1) draws plain frames on
// the normal screen. With TERM=dumb top wrote the alternate-screen and
// clear-screen sequences, which such a terminal prints as garbage; and
// on any other terminal it drew its one frame on the alternate screen
// and left it at once, so nothing stayed (r58 cli trial, M1).
func TestTopSnapshotOnATerminal(t *testing.T) {
	for _, term := range []string{"dumb", "xterm-256color"} {
		t.Run(term, func(t *testing.T) {
			f := startFake(t, func(req map[string]any) map[string]any { return map[string]any{"status": "ok"} })
			t.Setenv("TERM", term)
			master, slave := openPTY(t)
			defer master.Close()
			var errb strings.Builder
			code := run(t.Context(), []string{"--endpoint", f.endpoint, "top", "-n", "1"}, slave, &errb)
			// poolctl has exited: its frame is in the terminal's buffer.
			var got []byte
			buf := make([]byte, 4096)
			master.SetReadDeadline(time.Now().Add(5 * time.Second))
			for !strings.Contains(string(got), "processes") {
				n, err := master.Read(buf)
				got = append(got, buf[:n]...)
				if err != nil {
					break
				}
			}
			if code != 0 || !strings.Contains(string(got), "poold top") || strings.Contains(string(got), "\x1b") || strings.Contains(string(got), "q quits") {
				t.Errorf("want exit 0 and a frame without escape sequences or (q quits), got exit %d, terminal %q, stderr %q", code, got, errb.String())
			}
		})
	}
}
