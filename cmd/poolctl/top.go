package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/poold/poold/arbiter/controller/ctlclient"
	"github.com/poold/poold/web/remote"
)

func (a *app) topCommand() *cobra.Command {
	var interval durationValue
	var iterations int
	c := &cobra.Command{
		Use:     "top",
		GroupID: "live",
		Short:   "Live view of every watcher's processes (pid, wid, cpu, memory, age); q or Ctrl-C quits",
		Long: `Live view of every watcher's processes: pid, wid, state, CPU, memory, age,
restarts, refreshed every --interval (1s). q or Ctrl-C quits.

On a terminal, top takes the whole screen and clips each frame to it.
With -n (e.g. poolctl top -n 1 for a one-off snapshot), or when stdout is
not a terminal (or TERM is dumb), frames are printed one after another
and stay on the normal screen, as top -b does.

--json prints one object a line per frame: {"status": "ok", "time": T,
"statuses": <status's reply, in poold's words (its states)>, "infos": <stats's reply>}, or on a failed
sample {"status": "error", "time": T, "reason": ..., "error": <kind>}.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			every := time.Second
			if interval.set {
				every = interval.d
			}
			return a.top(c.Context(), every, iterations)
		},
	}
	c.Flags().Var(&interval, "interval", "refresh period, e.g. 2s or 0.5 (default 1s)")
	c.Flags().IntVarP(&iterations, "iterations", "n", 0, "stop after this many frames (0 = until q or Ctrl-C)")
	return c
}

// top redraws the process view until q, Ctrl-C or iterations frames.
// The terminal, when it is one, is restored on every way out.
func (a *app) top(ctx context.Context, every time.Duration, iterations int) error {
	client, err := a.dial()
	if err != nil {
		return err
	}
	defer func() {
		if client != nil {
			client.Close()
		}
	}()

	// A terminal whose TERM is dumb (Emacs's shell, some CI logs) draws
	// no escape sequences: it gets the frames one after another. Only
	// the live view takes the screen: a snapshot (-n) stays on the
	// normal screen, as procps's top -b -n 1 does, and --json prints one
	// object a line.
	screen := iterations == 0 && !a.json && isTerminal(a.stdout) && os.Getenv("TERM") != "dumb"
	keys := -1 // fd to read keys from, or -1
	if screen {
		restore, err := enterScreen(a.stdout)
		if err != nil {
			return runError{fmt.Errorf("top: set up the terminal: %w", err)}
		}
		defer restore()
		if isTerminalFd(int(os.Stdin.Fd())) {
			keys = int(os.Stdin.Fd())
		}
	}
	var buf, frameBuf bytes.Buffer
	for frame := 1; ; frame++ {
		buf.Reset()
		if screen {
			buf.WriteString("\x1b[H\x1b[2J")
		} else if frame > 1 && !a.json {
			buf.WriteByte('\n')
		}
		// A lost connection is not retried by the client: dial again
		// each frame until poold is back.
		var statuses, infos map[string]any
		var ferr error
		if client == nil {
			client, ferr = a.dial()
		}
		if client != nil {
			statuses, infos, ferr = a.topSample(ctx, client)
			if errors.Is(ferr, ctlclient.ErrUnreachable) || errors.Is(ferr, remote.ErrUnreachable) {
				client.Close()
				client = nil
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		switch {
		case a.json:
			if err := writeTopJSON(&buf, time.Now(), statuses, infos, ferr); err != nil {
				return runError{fmt.Errorf("top: %w", err)}
			}
		case screen:
			frameBuf.Reset()
			renderTop(&frameBuf, time.Now(), statuses, infos, ferr, true)
			rows, cols := termSize(a.stdout)
			buf.Write(clipFrame(frameBuf.Bytes(), rows, cols))
		default:
			renderTop(&buf, time.Now(), statuses, infos, ferr, false)
		}
		if _, err := a.stdout.Write(buf.Bytes()); err != nil {
			return runError{err}
		}
		if iterations > 0 && frame >= iterations {
			return nil
		}
		if quit := waitKey(ctx, keys, every); quit {
			return nil
		}
	}
}

// topSample fetches status and stats; a failure is shown in the frame.
func (a *app) topSample(ctx context.Context, client caller) (statuses, infos map[string]any, err error) {
	t := a.timeoutFor(noWait)
	_, st, err := a.roundTrip(ctx, client, call{command: "status", what: "status"}, t)
	if err != nil {
		return nil, nil, err
	}
	_, stats, err := a.roundTrip(ctx, client, call{command: "stats", what: "stats"}, t)
	if err != nil {
		return nil, nil, err
	}
	// An error reply (a poold refusing the command) is shown, not an
	// empty frame.
	for _, r := range []reply{st, stats} {
		if s, _ := r["status"].(string); s == "error" {
			reason, _ := r["reason"].(string)
			return nil, nil, replyError{reason: reason, errno: int(num(r["errno"]))}
		}
	}
	statuses, _ = stateWords(st) // poold's words, flapping and failed too
	infos, _ = stats["infos"].(map[string]any)
	return statuses, infos, nil
}

// renderTop draws one frame: a title line, then per watcher a summary and
// its process table.
func renderTop(w io.Writer, now time.Time, statuses, infos map[string]any, ferr error, tty bool) {
	names := map[string]bool{}
	for n := range statuses {
		names[n] = true
	}
	for n := range infos {
		names[n] = true
	}
	nprocs := 0
	for _, p := range infos {
		m, _ := p.(map[string]any)
		nprocs += len(m)
	}
	quit := ""
	if tty {
		quit = "   (q quits)"
	}
	fmt.Fprintf(w, "poold top  %s  %d watchers, %d processes%s\n", now.Format("15:04:05"), len(names), nprocs, quit)
	if ferr != nil {
		fmt.Fprintf(w, "\n%v\n", ferr)
		return
	}
	for _, name := range sortedKeys(toAny(names)) {
		procs, _ := infos[name].(map[string]any)
		rows := procRows(name, procs)
		var cpu, mem float64
		for _, r := range rows {
			c, m := treeShare(r.info)
			cpu += c
			mem += m
		}
		fmt.Fprintf(w, "\n%s  %s  %d processes  cpu %s  mem %s\n", name, render(statuses[name]), len(rows), percent(cpu), percent(mem))
		if len(rows) > 0 {
			_ = writeProcTable(w, rows, false)
		}
	}
}

// treeShare sums cpu and mem over a worker and the children listed under
// it: a gunicorn master or an `sh -c` wrapper does little itself.
func treeShare(info map[string]any) (cpu, mem float64) {
	cpu, mem = num(info["cpu"]), num(info["mem"])
	children, _ := info["children"].([]any)
	for _, c := range children {
		if child, ok := c.(map[string]any); ok {
			cc, cm := treeShare(child)
			cpu += cc
			mem += cm
		}
	}
	return cpu, mem
}

func toAny(m map[string]bool) map[string]any {
	out := make(map[string]any, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}

// waitKey waits for d, returning true when ctx ends or q is pressed on
// the fd keys (-1: no keyboard).
func waitKey(ctx context.Context, keys int, d time.Duration) (quit bool) {
	deadline := time.Now().Add(d)
	if keys < 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return true
		case <-t.C:
			return false
		}
	}
	for {
		if ctx.Err() != nil {
			return true
		}
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		// Poll in short slices so Ctrl-C (which cancels ctx) is seen soon.
		ms := int(min(left, 100*time.Millisecond) / time.Millisecond)
		fds := []unix.PollFd{{Fd: int32(keys), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, max(ms, 1))
		if err != nil && err != unix.EINTR {
			return false
		}
		if n > 0 && fds[0].Revents&unix.POLLIN != 0 {
			var b [16]byte
			m, _ := unix.Read(keys, b[:])
			for _, c := range b[:max(m, 0)] {
				if c == 'q' || c == 'Q' || c == 3 {
					return true
				}
			}
		}
		if n > 0 && fds[0].Revents&(unix.POLLHUP|unix.POLLERR) != 0 {
			return waitKey(ctx, -1, time.Until(deadline))
		}
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := unwrapOut(w).(*os.File)
	return ok && isTerminalFd(int(f.Fd()))
}

func isTerminalFd(fd int) bool {
	_, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	return err == nil
}

// enterScreen switches to the alternate screen with the cursor hidden and,
// when stdin is a terminal, to unbuffered input without echo (Ctrl-C
// still raises SIGINT). restore undoes all of it.
func enterScreen(w io.Writer) (restore func(), err error) {
	fd := int(os.Stdin.Fd())
	var saved *unix.Termios
	if old, err := unix.IoctlGetTermios(fd, unix.TCGETS); err == nil {
		raw := *old
		raw.Lflag &^= unix.ICANON | unix.ECHO
		raw.Cc[unix.VMIN] = 1
		raw.Cc[unix.VTIME] = 0
		if err := unix.IoctlSetTermios(fd, unix.TCSETS, &raw); err != nil {
			return nil, err
		}
		saved = old
	}
	fmt.Fprint(w, "\x1b[?1049h\x1b[?25l")
	return func() {
		fmt.Fprint(w, "\x1b[?25h\x1b[?1049l")
		if saved != nil {
			_ = unix.IoctlSetTermios(fd, unix.TCSETS, saved)
		}
	}, nil
}
