package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/spawn"
	"github.com/poold/poold/watcher/termsafe"
	"golang.org/x/sys/unix"
)

// outputKeep is how much of each of a command's streams is kept (the
// end) for its error.
const outputKeep = 4096

// waitDelay bounds how long Check waits for the output pipe after the
// command's process group is gone (a descendant that left the group may
// hold it open).
const waitDelay = time.Second

type execProbe struct {
	cmd  string
	argv []string
	env  []string
	cred *syscall.Credential          // nil: poold's user
	look func(string) (string, error) // nil: exec's own PATH lookup
	err  error
	noun string   // what errors call it: "" for "exec probe"
	out  LineFunc // nil: the output is kept for the error only
	left LeftFunc // nil: what the command leaves in its group is killed unsaid
}

// LeftFunc is called once a command's leader has exited, before Check
// kills what is left in its process group, with the group's id (the
// leader's pid, its zombie not reaped yet, so the id is not given anew);
// what it returns, if not nil, is called once the group has been killed.
// It is how a hook's leftovers are named (the watcher finds them).
type LeftFunc func(pgid int) (afterKill func())

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

// ExecAs is Exec run as cred (a watcher's user and groups; nil: poold's),
// as a health check of that watcher's workers runs: with no more
// privilege than they have. look finds a program named without a slash
// as that user may run it (poold's own lookup, as root, took the first
// on PATH root may run, which that user then could not: /root/.pyenv's
// python3 before /usr/bin's).
func ExecAs(cmd string, env []string, cred *syscall.Credential, look func(string) (string, error)) Probe {
	p := Exec(cmd, env).(*execProbe)
	p.cred, p.look = cred, look
	return p
}

// Hook is Exec for a command hook: the same run, errors that call it a
// command rather than a probe, each line of its output passed to out
// (nil: none) as it comes, whatever the outcome, and what it left
// running in its process group as it exited, which is killed, shown to
// left (nil: none).
func Hook(cmd string, env []string, out LineFunc, left LeftFunc) Probe {
	p := Exec(cmd, env).(*execProbe)
	p.noun = "command"
	p.out, p.left = out, left
	return p
}

func (p *execProbe) target() string { return fmt.Sprintf("%q", p.cmd) }

// fail is the probe's error for err, reason as given or boiled down.
func (p *execProbe) fail(r string, err error) *Error {
	if r == "" {
		r = reason(err)
	}
	return &Error{Kind: "exec", Noun: p.noun, Target: p.target(), Reason: r, Err: err}
}

func (p *execProbe) Check(ctx context.Context) error {
	if p.err != nil {
		return p.fail(p.err.Error(), p.err)
	}
	name := p.argv[0]
	if p.look != nil && !strings.Contains(name, "/") {
		path, err := p.look(name)
		if err != nil {
			return p.fail("", err)
		}
		name = path
	}
	c := exec.CommandContext(ctx, name, p.argv[1:]...)
	c.Args[0] = p.argv[0]
	c.Env = p.env
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: p.cred}
	stdout, stderr := &tail{max: outputKeep}, &tail{max: outputKeep}
	c.Stdout, c.Stderr = stdout, stderr
	if p.out != nil {
		outLines, errLines := &lines{stream: "stdout", fn: p.out}, &lines{stream: "stderr", fn: p.out}
		c.Stdout, c.Stderr = io.MultiWriter(stdout, outLines), io.MultiWriter(stderr, errLines)
		// After Wait the copying goroutines are done (WaitDelay included).
		defer outLines.close()
		defer errLines.close()
	}
	c.Cancel = func() error { return syscall.Kill(-c.Process.Pid, syscall.SIGKILL) }
	c.WaitDelay = waitDelay
	// Started and reaped here: registered so that an orphan reaper (poold
	// as a library) never takes the exit of this child of another group.
	release, err := spawn.StartKept(c)
	if err != nil {
		return p.fail("", err)
	}
	defer release()
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
	var after func()
	if p.left != nil && ctx.Err() == nil {
		after = p.left(pid)
	}
	syscall.Kill(-pid, syscall.SIGKILL)
	if after != nil {
		after()
	}
	return p.outcome(ctx, c.Wait(), stdout, stderr)
}

// outcome words how the command ended (err, from its Wait): nil when it
// exited 0; a failure ends with the last line it said.
func (p *execProbe) outcome(ctx context.Context, err error, stdout, stderr *tail) error {
	if ctx.Err() != nil && err != nil {
		return p.fail("", ctx.Err())
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r := ee.String()
		// The message is the last thing a failing command says: on
		// stderr if it wrote there (a traceback ends with the
		// exception), else on stdout.
		line := lastLine(stderr.buf)
		if line == "" {
			line = lastLine(stdout.buf)
		}
		if line != "" {
			r += ": " + line
		}
		return p.fail(r, err)
	}
	if err != nil && !errors.Is(err, exec.ErrWaitDelay) {
		return p.fail("", err)
	}
	return nil
}

// tail keeps the last max bytes written (at least) and discards the
// rest, so the command never blocks on a full pipe.
type tail struct {
	buf []byte
	max int
}

func (t *tail) Write(b []byte) (int, error) {
	if len(b) >= t.max {
		t.buf = append(t.buf[:0], b[len(b)-t.max:]...)
		return len(b), nil
	}
	if over := len(t.buf) + len(b) - 2*t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...) // amortised: at most once per max bytes
	}
	t.buf = append(t.buf, b...)
	return len(b), nil
}

// lastLine is the last non-blank line of b, trimmed, cut at 200 bytes
// and with control bytes escaped: it ends up in status replies, logs and
// poolctl's output on an operator's terminal, and the command's output
// often quotes outside data.
func lastLine(b []byte) string {
	lines := strings.Split(string(b), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if line := strings.TrimSpace(lines[i]); line != "" {
			cut := len(line) > 200
			if cut {
				line = line[:200]
			}
			line = escapeControls(line)
			if cut {
				line += "..."
			}
			return line
		}
	}
	return ""
}

// escapeControls writes what a terminal would act on (controls, bidi
// characters) and bytes that are not UTF-8 as Go escapes (\x1b,
// \u009b), as poold's text log does (termsafe).
func escapeControls(s string) string { return termsafe.Line(s) }
