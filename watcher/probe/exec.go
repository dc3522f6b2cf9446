package probe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/poold/poold/configs"
	"golang.org/x/sys/unix"
)

// outputKeep is how much of a command's output is kept for its error.
const outputKeep = 4096

// waitDelay bounds how long Check waits for the output pipe after the
// command's process group is gone (a descendant that left the group may
// hold it open).
const waitDelay = time.Second

type execProbe struct {
	cmd  string
	argv []string
	env  []string
	err  error
}

// Exec passes when cmd exits 0. cmd is split into words as a shell splits
// simple words: blanks separate, '...' is literal, "..." keeps blanks and
// honours \" \\ \$ \`, a backslash outside quotes escapes the next
// character; nothing is expanded ($VAR, globs, ~ stay as written) and no
// shell runs, so write `sh -c '...'` for shell syntax. argv[0] is found on
// poold's PATH. env is the command's whole environment (nil: poold's).
//
// The command runs in a process group of its own with stdin from
// /dev/null and its stdout and stderr captured; when ctx ends the whole
// group is killed, and when the command exits any process it left in its
// group is killed too, so a probe never leaves anything running.
func Exec(cmd string, env []string) Probe {
	argv, err := configs.SplitCommand(cmd)
	return &execProbe{cmd: cmd, argv: argv, env: env, err: err}
}

func (p *execProbe) target() string { return fmt.Sprintf("%q", p.cmd) }

func (p *execProbe) Check(ctx context.Context) error {
	if p.err != nil {
		return &Error{Kind: "exec", Target: p.target(), Reason: p.err.Error(), Err: p.err}
	}
	c := exec.CommandContext(ctx, p.argv[0], p.argv[1:]...)
	c.Env = p.env
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out := &head{max: outputKeep}
	c.Stdout, c.Stderr = out, out
	c.Cancel = func() error { return syscall.Kill(-c.Process.Pid, syscall.SIGKILL) }
	c.WaitDelay = waitDelay
	if err := c.Start(); err != nil {
		return fail("exec", p.target(), err)
	}
	pid := c.Process.Pid
	// Wait for the leader to exit without reaping it: while its zombie
	// holds the pid, the group id cannot be reused, so killing the group's
	// leftovers cannot hit a stranger.
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	syscall.Kill(-pid, syscall.SIGKILL)
	err := c.Wait()
	if ctx.Err() != nil && err != nil {
		return fail("exec", p.target(), ctx.Err())
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r := ee.String()
		if line := firstLine(out.buf.Bytes()); line != "" {
			r += ": " + line
		}
		return &Error{Kind: "exec", Target: p.target(), Reason: r, Err: err}
	}
	if err != nil && !errors.Is(err, exec.ErrWaitDelay) {
		return fail("exec", p.target(), err)
	}
	return nil
}

// head keeps the first max bytes written and discards the rest, so the
// command never blocks on a full pipe. os/exec serialises writes when
// Stdout and Stderr are the same writer.
type head struct {
	buf bytes.Buffer
	max int
}

func (h *head) Write(b []byte) (int, error) {
	if room := h.max - h.buf.Len(); room > 0 {
		h.buf.Write(b[:min(room, len(b))])
	}
	return len(b), nil
}

func firstLine(b []byte) string {
	for line := range strings.SplitSeq(string(b), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			if len(line) > 200 {
				line = line[:200] + "..."
			}
			return line
		}
	}
	return ""
}
