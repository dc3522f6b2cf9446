// Package handover tells whether a worker has begun waiting for
// connections on the sockets it inherited, so that the worker it replaces
// stops only once it can take that worker's clients.
//
// A worker that polls a socket registers it in an epoll set (Go's
// runtime, Python's asyncio and selectors, libuv, nginx): its epoll fds'
// fdinfo lists each watched file by inode. A worker that blocks in
// accept(2) shows it in /proc/PID/task/TID/syscall. select(2) and poll(2)
// keep their fd sets in the worker's memory, out of /proc's sight: a
// worker asleep in one of them while it holds the socket is reported as
// Opaque, unless it has children: then they decide. The worker's
// descendants count too (a master whose children accept, as gunicorn's
// and uvicorn's).
//
// Concurrency: Look and Wait only read /proc; they are safe to call from
// any goroutine and start none. Wait blocks until it has an answer or its
// ctx ends.
package handover

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Seen is what Look found.
type Seen int

const (
	// Busy: not waiting on the sockets yet (starting, or waiting on
	// something else).
	Busy Seen = iota
	// Listening: one of its processes polls a socket through epoll or
	// blocks in accept on it.
	Listening
	// Opaque: one of its processes sleeps in select or poll while it
	// holds a socket; whether that wait includes the socket is in its
	// memory, not in /proc.
	Opaque
)

func (s Seen) String() string {
	switch s {
	case Listening:
		return "listening"
	case Opaque:
		return "waiting in select/poll"
	}
	return "busy"
}

// Inodes are the inode numbers of listening sockets.
type Inodes map[uint64]bool

// InodesOf returns the inodes of files (the sockets a worker inherits).
func InodesOf(files []*os.File) (Inodes, error) {
	out := make(Inodes, len(files))
	for _, f := range files {
		var st syscall.Stat_t
		if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
			return nil, fmt.Errorf("fstat %s: %w", f.Name(), err)
		}
		out[st.Ino] = true
	}
	return out, nil
}

// maxProcs bounds the processes of one worker's tree that Look reads.
const maxProcs = 64

// Look reports whether pid or one of its descendants waits for
// connections on one of socks. An error means pid itself cannot be read
// (it has exited).
func Look(pid int, socks Inodes) (Seen, error) {
	s, _, _, err := look(pid, socks, false)
	return s, err
}

// earlyLooks is how many of Wait's first looks (1, 3, 7 and 15 ms
// after the spawn, on a quiet machine) leave out the full look while the
// worker's main thread runs. A new worker that is not yet waiting is
// nearly always running its start-up then (or waiting for a CPU), and
// the full look found nothing in all but about 2 % of those looks (an
// epoll set that already held the socket: seen at the next look
// instead), at 4 to 5 times the quick look's cost: it was most of the
// readiness look's share of poold's CPU a spawn (perf at 2,000 tiny
// workers, issue 18). From the 5th look on, a worker that runs gets
// the full look, so one that keeps computing while it listens on
// another thread, or with the socket in an epoll set, is still seen.
const earlyLooks = 4

// errRunning is look's answer, when asked to skip a running worker,
// for one whose main thread runs: not looked at further.
var errRunning = errors.New("its main thread runs")

// look is Look, also listing the live descendants of pid that hold one
// of socks (holders), and those of them that run the program their
// parent runs (workers: a master's, forked or spawned, while it has not
// seen them waiting; not a helper of another program, such as a `sleep`
// a shell left in the background with the socket). With skipRunning,
// a pid whose main thread runs gets errRunning (see earlyLooks).
func look(pid int, socks Inodes, skipRunning bool) (seen Seen, holders []int, workers []holder, err error) {
	return lookIn(pid, socks, skipRunning, nil)
}

// lookIn is look, its quick look reading the main thread's call from
// cf (kept open while skipRunning: see callFile) when not nil.
func lookIn(pid int, socks Inodes, skipRunning bool, cf *callFile) (seen Seen, holders []int, workers []holder, err error) {
	listening, running := quickLookIn(pid, socks, cf, skipRunning)
	if listening {
		return Listening, nil, nil, nil
	}
	if running && skipRunning {
		return Busy, nil, nil, errRunning
	}
	seen = Busy
	queue := []int{pid}
	parent := map[int]int{}
	for n := 0; len(queue) > 0 && n < maxProcs; n++ {
		p := queue[0]
		queue = queue[1:]
		s, kids, holds, err := lookProc(p, socks)
		if err != nil {
			if p == pid {
				return Busy, nil, nil, err
			}
			continue // a descendant that just exited
		}
		if s == Listening {
			return Listening, nil, nil, nil
		}
		if holds && p != pid {
			holders = append(holders, p)
			if exe := exeOf(p); exe != "" && exe == exeOf(parent[p]) {
				workers = append(workers, holder{pid: p, parent: parent[p], exe: exe})
			}
		}
		seen = max(seen, s)
		for _, k := range kids {
			parent[k] = p
		}
		queue = append(queue, kids...)
	}
	return seen, holders, workers, nil
}

// exeOf returns the executable pid runs, "" if it cannot be read.
func exeOf(pid int) string {
	exe, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
	return exe
}

// lookProc looks at one process: its fds, then what its threads wait in.
// It returns the process's children too, and whether it holds one of
// socks (a zombie holds nothing).
func lookProc(pid int, socks Inodes) (Seen, []int, bool, error) {
	dir := "/proc/" + strconv.Itoa(pid)
	held, conns, polls, err := fdsOf(dir, socks)
	if err != nil {
		return Busy, nil, false, err
	}
	if polls {
		return Listening, nil, true, nil
	}
	tids, err := os.ReadDir(dir + "/task")
	if err != nil {
		return Busy, nil, false, err
	}
	seen := Busy
	var kids []int
	for _, t := range tids {
		tdir := dir + "/task/" + t.Name()
		if len(held) > 0 {
			switch waitOf(tdir, held) {
			case Listening:
				return Listening, nil, true, nil
			case Opaque:
				seen = Opaque
			}
		}
		kids = append(kids, childrenOf(tdir)...)
	}
	if len(held) > 0 && len(conns) > 0 && servesConn(dir, socks, conns) {
		return Listening, nil, true, nil
	}
	if len(kids) > 0 {
		// A master asleep in select or poll is likely waiting on its
		// children (gunicorn's arbiter on its pipe), not on the socket:
		// the children decide.
		seen = Busy
	}
	return seen, kids, len(held) > 0, nil
}

// fdsOf lists the process's fds: which of socks it holds (fd -> inode),
// the inodes of its other sockets, and whether one of its epoll sets
// watches one of socks.
func fdsOf(dir string, socks Inodes) (held map[int]uint64, conns Inodes, polls bool, err error) {
	ents, err := os.ReadDir(dir + "/fd")
	if err != nil {
		return nil, nil, false, err
	}
	held, conns = map[int]uint64{}, Inodes{}
	var epolls []string
	for _, e := range ents {
		link, err := os.Readlink(dir + "/fd/" + e.Name())
		if err != nil {
			continue // closed meanwhile
		}
		switch {
		case link == "anon_inode:[eventpoll]":
			epolls = append(epolls, e.Name())
		case strings.HasPrefix(link, "socket:["):
			ino, err := strconv.ParseUint(strings.TrimSuffix(link[len("socket:["):], "]"), 10, 64)
			fd, ferr := strconv.Atoi(e.Name())
			switch {
			case err != nil || ferr != nil:
			case socks[ino]:
				held[fd] = ino
			default:
				conns[ino] = true
			}
		}
	}
	for _, fd := range epolls {
		if watches(dir+"/fdinfo/"+fd, socks) {
			return held, conns, true, nil
		}
	}
	return held, conns, false, nil
}

// watches reports whether the epoll fd whose fdinfo is at path watches
// one of socks: its lines "tfd: N events: E data: D pos:P ino:HEX sdev:S".
func watches(path string, socks Inodes) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	return watchesIn(b, socks)
}

// watchesIn is watches on the fdinfo's text. It allocates nothing: the
// quick look runs it once for every worker poold starts.
func watchesIn(b []byte, socks Inodes) bool {
	for len(b) > 0 {
		var line []byte
		line, b, _ = bytes.Cut(b, []byte("\n"))
		if !bytes.HasPrefix(line, []byte("tfd:")) {
			continue
		}
		_, rest, ok := bytes.Cut(line, []byte(" ino:"))
		if !ok {
			continue
		}
		hex, _, _ := bytes.Cut(rest, []byte(" "))
		if ino, err := strconv.ParseUint(string(hex), 16, 64); err == nil && socks[ino] {
			return true
		}
	}
	return false
}

// waitOf reads what a thread is blocked in, from its syscall file:
// "NR ARG0 ARG1 ... SP PC", "running", or "-1 SP PC" (blocked outside a
// system call). held maps the process's socket fds to their inodes.
func waitOf(tdir string, held map[int]uint64) Seen {
	b, err := os.ReadFile(tdir + "/syscall")
	if err != nil {
		return Busy // not ours to read (another user), or gone
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return Busy
	}
	nr, err1 := strconv.Atoi(f[0])
	arg0, err2 := strconv.ParseUint(strings.TrimPrefix(f[1], "0x"), 16, 64)
	if err1 != nil || err2 != nil {
		return Busy
	}
	switch {
	case acceptCalls[nr]:
		if _, ok := held[int(arg0)]; ok {
			return Listening
		}
	case selectCalls[nr]:
		// select(nfds, ...): it may watch a socket below nfds.
		for fd := range held {
			if uint64(fd) < arg0 {
				return Opaque
			}
		}
	case pollCalls[nr]:
		return Opaque
	}
	return Busy
}

// childrenOf lists the children a thread started.
func childrenOf(tdir string) []int {
	b, err := os.ReadFile(tdir + "/children")
	if err != nil {
		return nil
	}
	var out []int
	for _, s := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(s); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

// ErrNotSeen is Wait's error when ctx ended before the worker was seen
// waiting on its sockets.
var ErrNotSeen = errors.New("not seen waiting for connections on its sockets")

// ErrExited is Wait's error when the worker exited (or is a zombie) before
// it was seen waiting: it never took a connection.
var ErrExited = errors.New("exited before it waited for connections")

// Wait looks at pid until it waits on one of socks (Listening or
// Opaque), checking often at first (a Go worker takes a few
// milliseconds), then every 25 ms. It returns what it saw, ErrNotSeen
// (wrapped) once soft has passed, ErrExited (wrapped) if pid has exited,
// ErrWorkersExited (wrapped) if the processes of its tree that held a
// socket have all exited, unreaped, while pid lives on, or Look's error
// if pid cannot be read for another reason. A tree that shows it still
// loads is not given up on at soft: one with processes of its own that
// hold a socket and run their parent's program (a master whose workers
// still import the app), one that lost such a process before any
// waited, or one that still computes (a master that imports the app
// before it forks, gunicorn --preload). Those servers are seen once they
// wait, so Wait goes on until ctx ends and then returns ErrWorkerLost
// (wrapped) if it lost one, ErrStillLoading (wrapped) if processes of
// its program held a socket with none waiting, or ErrNotSeen (a tree
// that only computed included).
func Wait(ctx context.Context, pid int, socks Inodes, soft time.Duration) (Seen, error) {
	return WaitPast(ctx, pid, socks, soft, nil)
}

// WaitPast is Wait that calls past once, if soft passes while the tree
// still loads, so that the caller can say why the wait goes on: with
// the pids of the workers that hold a socket, or none if it computes.
func WaitPast(ctx context.Context, pid int, socks Inodes, soft time.Duration, past func(holders []int)) (Seen, error) {
	var p func([]int, bool)
	if past != nil {
		p = func(holders []int, _ bool) { past(holders) }
	}
	return wait(ctx, pid, socks, soft, p, false)
}

// WaitHeld is WaitPast that does not give up on an idle tree at soft:
// it looks until pid waits, exits or ctx ends (then ErrNotSeen, if
// nothing else says why), for a new worker of a rolling reload, which
// replaces serving workers only once it is seen to serve. past is
// called once soft has passed, whatever the tree shows: with the pids
// of the workers that hold a socket, and whether it still computes.
func WaitHeld(ctx context.Context, pid int, socks Inodes, soft time.Duration, past func(holders []int, busy bool)) (Seen, error) {
	return wait(ctx, pid, socks, soft, past, true)
}

// wait is WaitPast, or WaitHeld if held.
func wait(ctx context.Context, pid int, socks Inodes, soft time.Duration, past func([]int, bool), held bool) (Seen, error) {
	softAt := time.Now().Add(soft)
	// The first look 1 ms after the spawn, not at once: a worker has not
	// waited by then (its exec has not even ended), and that look cost
	// a full look for nothing. Among 3,000 tiny C workers spawned at once
	// 47 % were seen waiting only at the second look from 0 ms, 2 % at
	// the second from 1 ms.
	every := time.Millisecond
	t := time.NewTimer(every)
	defer t.Stop()
	var gone holders
	var workers []int
	var load loading
	looks := 0
	cf := newCallFile(pid)
	defer cf.close()
	for ; ; every = rearm(t, every) {
		select {
		case <-ctx.Done():
			if exited(pid) {
				return Busy, fmt.Errorf("pid %d %w", pid, ErrExited)
			}
			return Busy, notSeen(gone.lost(exeOf), workers, load.wasActive)
		case <-t.C:
		}
		looks++
		s, live, ws, err := lookIn(pid, socks, looks <= earlyLooks, cf)
		if errors.Is(err, errRunning) {
			continue // as if this look had not been: it told nothing
		}
		if err != nil && exited(pid) {
			return Busy, fmt.Errorf("pid %d %w: %v", pid, ErrExited, err)
		}
		if err != nil || s != Busy {
			return s, err
		}
		now := time.Now()
		gone.note(ws)
		workers = pidsOf(ws)
		if err := gone.check(live, now, zombie); err != nil {
			return Busy, err
		}
		busy := false
		if !now.Before(softAt.Add(-2 * busyWindow)) {
			busy = load.busy(pid, now)
		}
		if !now.Before(softAt) {
			if !held && len(workers) == 0 && len(gone.lost(exeOf)) == 0 && !busy {
				if exited(pid) {
					// It exited since the look: its workers' parent
					// is gone, so lost could not tell them lost.
					return Busy, fmt.Errorf("pid %d %w", pid, ErrExited)
				}
				return Busy, fmt.Errorf("%w (gave up after %v)", ErrNotSeen, soft)
			}
			if past != nil && (held || len(workers) > 0 || busy) {
				past(workers, busy)
				past = nil
			}
		}
	}
}

// rearm sets t for the next look, every from now, and returns the wait
// after that one: twice as long, up to 25 ms.
func rearm(t *time.Timer, every time.Duration) time.Duration {
	t.Reset(every)
	return min(2*every, 25*time.Millisecond)
}

// notSeen is WaitPast's error once ctx has ended: the workers it lost,
// else those that held a socket at the last look, else whether the tree
// still computed, say why it is not ready.
func notSeen(lost []string, workers []int, busy bool) error {
	switch {
	case len(lost) > 0:
		return fmt.Errorf("%w (pids %s exited)", ErrWorkerLost, strings.Join(lost, ", "))
	case len(workers) > 0:
		return fmt.Errorf("%w (pids %s, processes of its own program, hold its sockets and none waits on them: if its app takes longer to load, raise ready_timeout; if they never accept on them (a process pool that inherited the socket, a server on a port of its own), give this watcher no sockets, or readiness \"delay\", \"tcp\" or \"http\")", ErrStillLoading, joinPids(workers))
	case busy:
		// Computing is a weaker sign than workers holding the socket:
		// a server /proc cannot show waiting (io_uring, a socket of its
		// own) computes too once it serves. Waited for up to ctx, in
		// case it imports its app before it forks (gunicorn
		// --preload), it then counts as ready, as one not seen does.
		return fmt.Errorf("%w (it still used CPU when the wait ended and was never seen waiting on its sockets: if it is a master still importing its app, raise ready_timeout)", ErrNotSeen)
	}
	return ErrNotSeen
}

// ErrStillLoading is Wait's error when its ctx ended while processes of
// the worker's own program held a socket with none waiting on it
// (gunicorn whose workers hang in the app's import).
// It never served: counted ready, it would replace serving workers in a
// rolling reload.
var ErrStillLoading = errors.New("still loading, not waiting for connections")

func pidsOf(hs []holder) []int {
	out := make([]int, len(hs))
	for i, h := range hs {
		out[i] = h.pid
	}
	return out
}

func joinPids(pids []int) string {
	s := make([]string, len(pids))
	for i, p := range pids {
		s[i] = strconv.Itoa(p)
	}
	return strings.Join(s, ", ")
}
