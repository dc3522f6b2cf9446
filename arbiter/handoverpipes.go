package arbiter

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/poold/poold/arbiter/upgrade"
)

// The worker output pipes in an upgrade: their readers stop, keeping
// what they read, and the pipes go to the new image (or the readers
// start again when the exec did not happen).

// detachWait bounds how long an upgrade waits for the next output reader
// to stop: one stuck in a write to its log file (a frozen or hung
// filesystem) held the loop, and every command, until the disk answered.
// A slow disk that takes one write after another is waited for.
var detachWait = 5 * time.Second

// detachAll makes every output reader stop at once, writing what it has
// read and leaving its pipe open. It fails, naming the log files, when no
// reader has stopped for detachWait while some still run (they are in
// writes that do not return); resumeAll then restarts the stopped ones.
func (o *output) detachAll() error {
	o.mu.Lock()
	o.detach = true
	for f := range o.open {
		_ = f.SetReadDeadline(time.Unix(1, 0))
	}
	left := len(o.running)
	o.mu.Unlock()
	deadline := time.Now().Add(detachWait)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		o.mu.Lock()
		n := len(o.running)
		o.mu.Unlock()
		switch {
		case n == 0:
			return nil
		case n < left: // a write returned: the disk moves
			left, deadline = n, time.Now().Add(detachWait)
		case time.Now().After(deadline):
			return fmt.Errorf("worker output readers still blocked writing %s, none done for %v (a frozen or hung filesystem?): try the upgrade again once the disk answers",
				strings.Join(o.stuckFiles(), ", "), detachWait)
		}
		<-tick.C
	}
}

// stuckFiles names the log files of the readers that have not stopped.
func (o *output) stuckFiles() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var stuck []string
	for f := range o.running {
		if ps := o.sinks[f]; ps != nil && ps.file != nil {
			stuck = append(stuck, ps.file.f.Path())
		} else {
			stuck = append(stuck, "poold's log")
		}
	}
	slices.Sort(stuck)
	return slices.Compact(stuck)
}

// keep records the unfinished line a reader of the old image had.
func (o *output) keep(f *os.File, partial []byte) {
	if len(partial) == 0 {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.pending[f] = append([]byte(nil), partial...)
}

// stopFor ends a reader stopped by detachAll's deadline, keeping the
// unfinished line it had for the next reader of its pipe, and reports
// true; false when the upgrade gave up meanwhile (resumeAll ran): the
// reader goes on.
func (o *output) stopFor(f *os.File, partial []byte) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.detach {
		return false
	}
	if len(partial) > 0 {
		o.pending[f] = append([]byte(nil), partial...)
	}
	delete(o.running, f)
	return true
}

// source is what a pipe's reader reads: what an earlier reader of it
// left unfinished, then the pipe.
func (o *output) source(f *os.File) io.Reader {
	o.mu.Lock()
	defer o.mu.Unlock()
	p := o.pending[f]
	delete(o.pending, f)
	if len(p) == 0 {
		return f
	}
	return io.MultiReader(bytes.NewReader(p), f)
}

// resumeAll restarts the readers detachAll stopped (the exec failed).
func (o *output) resumeAll() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.detach = false
	for f := range o.open {
		_ = f.SetReadDeadline(time.Time{})
		if o.running[f] {
			continue // never stopped (stuck in a write): it goes on by itself
		}
		o.running[f] = true
		o.wg.Add(1)
		go o.read(f, o.sinks[f])
	}
}

// handover lists the open pipes by worker.
func (o *output) handover() []upgrade.Pipes {
	o.mu.Lock()
	defer o.mu.Unlock()
	byPid := map[int]*upgrade.Pipes{}
	for f, ps := range o.sinks {
		p := byPid[ps.pid]
		if p == nil {
			p = &upgrade.Pipes{Pid: ps.pid, Stdout: -1, Stderr: -1}
			byPid[ps.pid] = p
		}
		// Not f.Fd(), which would make the pipe blocking: its reader
		// here (after a failed exec) and in the new image needs the
		// netpoller, and its read deadline.
		fd := -1
		if rc, err := f.SyscallConn(); err == nil {
			_ = rc.Control(func(u uintptr) { fd = int(u) })
		}
		if fd < 0 {
			continue
		}
		if ps.stream == "stdout" {
			p.Stdout, p.StdoutPending = fd, o.pending[f]
		} else {
			p.Stderr, p.StderrPending = fd, o.pending[f]
		}
	}
	out := make([]upgrade.Pipes, 0, len(byPid))
	for _, p := range byPid {
		out = append(out, *p)
	}
	return out
}
