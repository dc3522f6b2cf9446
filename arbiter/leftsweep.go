package arbiter

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/poold/poold/sockets"
	"github.com/poold/poold/watcher/launch"
	"github.com/poold/poold/watcher/procinfo"
)

// What a killed poold left holding its sockets. A poold killed with
// SIGKILL takes its workers with it (their parent-death signal), but not
// what they started: uvicorn's and gunicorn's workers, a multiprocessing
// pool, go on under init holding the listening socket they inherited, and
// every start of poold on the same config then failed with "address
// already in use" until someone killed them. With cgroups the next poold
// kills them before it binds (contain.go). Without, poold goes by the
// mark every worker passes down in its environment (launch.MarkEnv):
// when a bind of its sockets finds an address in use, the processes
// holding it that carry this config's id, and were started by a poold
// that is gone (its pid ended, or is another process's now), get
// SIGTERM, SIGKILL after leftGrace, and the bind is tried once more.
// Nothing else is touched: a process without the mark (one that cleared
// its environment, or anybody else's), one a live poold of this config
// started, one poold's user may not signal; the error names them, as
// before, and says why each was left.

// leftGrace is how long what a previous poold left has after SIGTERM
// before SIGKILL.
const leftGrace = 2 * time.Second

// workerMark is the mark of the workers of the config at path started by
// this poold; nil without a config file, or without a /proc of poold's
// own pid namespace (a pid there is another process's).
func workerMark(path string) []string {
	id := launch.ConfigID(path)
	if id == "" || procinfo.ForeignProc() != nil {
		return nil
	}
	start, err := procinfo.StartTicks(os.Getpid())
	if err != nil {
		return nil
	}
	return launch.MarkEnv(id, os.Getpid(), start)
}

// leftSweep is one bind's look at what holds its addresses: it ends what
// a previous poold of this config left (free, for
// sockets.ApplyFreeing) and keeps a note, by socket, of each holder it
// could have ended but may not, for the error (explain). Used by one
// goroutine at a time.
type leftSweep struct {
	a     *Arbiter
	id    string              // this config's id; "": no sweep
	notes map[string][]string // socket name -> why a holder was left
}

// leftSweep is a sweep for a bind of this config's sockets, on the loop
// or before it runs.
func (a *Arbiter) leftSweep() *leftSweep {
	sw := &leftSweep{a: a, notes: map[string][]string{}}
	if a.mark != nil {
		sw.id = launch.ConfigID(a.cfg.Path)
	}
	return sw
}

// leftProc is a process a previous poold of this config left.
type leftProc struct {
	pid    int
	start  uint64 // procinfo.StartTicks
	socket string // the name of a socket whose address it holds
}

// free ends what a previous poold of this config left holding an
// address err says is in use, and says whether it ended any.
func (sw *leftSweep) free(err error) bool {
	if sw.id == "" {
		return false
	}
	var left []leftProc
	seen := map[int]bool{}
	for _, e := range sockets.Errors(err) {
		left = sw.gather(left, e.Socket, sockets.HolderPids(e), seen)
	}
	if len(left) == 0 {
		return false
	}
	return sw.end(left, leftSockets(left))
}

// gather adds to left the processes of pids (the holders of socket's
// address) that a previous poold of this config left, judging each pid
// once (seen), and notes why it left one that might be.
func (sw *leftSweep) gather(left []leftProc, socket string, pids []int, seen map[int]bool) []leftProc {
	for _, pid := range pids {
		if seen[pid] {
			continue
		}
		seen[pid] = true
		p, note := sw.judge(pid)
		if note != "" {
			sw.notes[socket] = append(sw.notes[socket], note)
		}
		if p.pid != 0 {
			p.socket = socket
			left = append(left, p)
		}
	}
	return left
}

// leftSockets names the sockets whose addresses left hold, once each.
func leftSockets(left []leftProc) []string {
	var names []string
	for _, p := range left {
		if !slices.Contains(names, p.socket) {
			names = append(names, p.socket)
		}
	}
	return names
}

// judge tells whether pid is what a previous poold of this config left
// (a zero leftProc if not), and why a holder that might be is left alone.
func (sw *leftSweep) judge(pid int) (leftProc, string) {
	start, err := procinfo.StartTicks(pid)
	if err != nil || pid == os.Getpid() {
		return leftProc{}, ""
	}
	environ, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if errors.Is(err, fs.ErrPermission) {
		uid := uidOf(pid)
		return leftProc{}, fmt.Sprintf("pid %d runs as uid %s, whose environment poold's user (uid %d) may not read to tell whether a previous poold of this config left it, nor signal it: stop it as that user or root", pid, uid, os.Geteuid())
	}
	if err != nil {
		return leftProc{}, ""
	}
	m := launch.ReadMark(environ)
	if m.ConfigID != sw.id || !m.Worker || m.Pid == 0 {
		return leftProc{}, ""
	}
	if s, err := procinfo.StartTicks(m.Pid); err == nil && s == m.Start {
		if m.Pid == os.Getpid() {
			return leftProc{}, "" // one of poold's own workers
		}
		return leftProc{}, fmt.Sprintf("pid %d was started by poold pid %d, which runs on this config: stop that poold first", pid, m.Pid)
	}
	// Read again: a pid that ended meanwhile (and was given anew) must
	// not lend its environment to another process.
	if again, err := procinfo.StartTicks(pid); err != nil || again != start {
		return leftProc{}, ""
	}
	return leftProc{pid: pid, start: start}, ""
}

// uidOf is the uid pid runs as, "?" if /proc does not say.
func uidOf(pid int) string {
	fi, err := os.Stat("/proc/" + strconv.Itoa(pid))
	if err != nil {
		return "?"
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "?"
	}
	return strconv.Itoa(int(st.Uid))
}

// end stops left (holding the sockets names): SIGTERM, SIGKILL to those
// still running after leftGrace, then waits up to emptyGrace for them to
// end. Each is signalled through a pidfd opened while it was still the
// process judged, so a pid given anew meanwhile is never signalled. It
// says whether it signalled any.
func (sw *leftSweep) end(left []leftProc, names []string) bool {
	var pids []int
	fds := map[int]int{}       // pid -> pidfd
	socket := map[int]string{} // pid -> the socket it holds
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	for _, p := range left {
		fd, err := unix.PidfdOpen(p.pid, 0)
		if err != nil {
			continue // ended
		}
		if s, err := procinfo.StartTicks(p.pid); err != nil || s != p.start {
			unix.Close(fd)
			continue
		}
		fds[p.pid], socket[p.pid] = fd, p.socket
		pids = append(pids, p.pid)
	}
	desc := describePids(pids)
	var sent []int
	for _, pid := range pids {
		err := unix.PidfdSendSignal(fds[pid], unix.SIGTERM, nil, 0)
		if errors.Is(err, unix.EPERM) {
			sw.notes[socket[pid]] = append(sw.notes[socket[pid]], fmt.Sprintf("pid %d is what a previous poold of this config left, but poold's user (uid %d) may not signal it (uid %s): stop it as that user or root", pid, os.Geteuid(), uidOf(pid)))
			continue
		}
		if err != nil && !errors.Is(err, unix.ESRCH) { // ESRCH: it has ended by itself
			continue
		}
		_ = unix.PidfdSendSignal(fds[pid], unix.SIGCONT, nil, 0)
		sent = append(sent, pid)
	}
	if len(sent) == 0 {
		return false
	}
	running := waitPidfds(sent, fds, leftGrace)
	for _, pid := range running {
		_ = unix.PidfdSendSignal(fds[pid], unix.SIGKILL, nil, 0)
	}
	stuck := waitPidfds(running, fds, emptyGrace)
	sw.a.log.Warn("killed what a previous poold of this config left holding its sockets (no cgroup held them: poold found them by this config's id in their environment, POOLD_CONFIG_ID, and their poold gone)",
		"count", len(sent), "processes", desc, "sockets", strings.Join(names, ","), "sigkill", len(running))
	if len(stuck) > 0 {
		sw.a.log.Error("processes a previous poold of this config left did not end after SIGKILL", "processes", describePids(stuck))
	}
	return true
}

// waitPidfds waits up to d for the processes pids (with their pidfds in
// fds) to end, and returns those still running.
func waitPidfds(pids []int, fds map[int]int, d time.Duration) []int {
	deadline := time.Now().Add(d)
	for len(pids) > 0 {
		left := time.Until(deadline)
		if left <= 0 {
			break
		}
		polls := make([]unix.PollFd, len(pids))
		for i, pid := range pids {
			polls[i] = unix.PollFd{Fd: int32(fds[pid]), Events: unix.POLLIN}
		}
		n, err := unix.Poll(polls, int(left.Milliseconds())+1)
		if err != nil && !errors.Is(err, unix.EINTR) {
			break
		}
		if n <= 0 {
			continue
		}
		var still []int
		for i, pid := range pids {
			if polls[i].Revents == 0 {
				still = append(still, pid)
			}
		}
		pids = still
	}
	return pids
}

// explain adds to err's in-use errors why the holders of their addresses
// that might be a previous poold's were left alone.
func (sw *leftSweep) explain(err error) error {
	for _, e := range sockets.Errors(err) {
		notes := sw.notes[e.Socket]
		if len(notes) == 0 || (!errors.Is(e, syscall.EADDRINUSE) && !errors.Is(e, sockets.ErrInUse)) {
			continue
		}
		if e.Hint != "" {
			e.Hint += "; "
		}
		e.Hint += strings.Join(notes, "; ")
	}
	return err
}
