package spawn

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Exit hints. The walk that finds which child ended (children.go) looks
// at each child of the spawner's thread in turn until it meets one that
// ended: at 10,000 workers about 0.4 ms a walk, one walk per exit, and a
// burst of 100 kill -9s spent some 40 ms walking before the first
// replacement could start (perf, poold-bench tenk). A pidfd per worker
// says which one ended with no walk, but an fd per worker in poold's fd
// table makes every fork copy and every exec close them all.
//
// So the pidfds live in an fd table of their own. One thread, locked to
// its goroutine for good, unshares its fd table (unshare CLONE_FILES),
// closes in its copy what poold may later close itself (sockets, pipes,
// files: a copy would keep a port bound or a pipe from reaching EOF)
// but keeps anonymous inodes (the Go runtime's epoll and eventfd, which
// it may use on any thread), and then opens a pidfd for each worker the
// spawner names and adds it to an epoll set made before the unshare, so
// in both tables. The spawner itself asks that set, without waiting,
// which pidfds are readable: Linux marks a worker's pidfd readable before
// it sends the SIGCHLD of that exit, so at each SIGCHLD the set names
// every registered worker that ended, and the spawner reaps each alone
// (waitid P_PID). The thread only opens and closes pidfds; a readable
// pidfd stays so until the spawner has the thread close it. A pid the
// set names that is no worker that ended changes nothing. The thread
// ends with the spawner, or at an exec, and its table with it.
//
// The walk stays for what has no pidfd: a worker's orphans (on the main
// thread), and a worker that ended before the thread took its pid. With
// the set, a SIGCHLD leaves the walk to a backstop a little later, one
// walk for a burst. Below exitWatchMin workers, where a walk is cheap,
// and wherever a pidfd cannot be had (no pidfd_open before Linux 5.3,
// unshare refused, as Docker's default seccomp profile does without
// CAP_SYS_ADMIN, or a pidfd refused for want of fds), the spawner walks
// on every SIGCHLD.

// exitWatchMin is how many live workers start the exit watch: a walk of
// 512 children costs about 20 us.
const exitWatchMin = 512

// backstopDelay is how long after a SIGCHLD the spawner walks its
// children while the exit watch runs, and backstopSpan how long at most:
// how late a worker's orphan, or a worker that ended as it was being
// registered, may be reaped. A SIGCHLD or a start served while the walk
// waits puts it off to backstopDelay from then, never past backstopSpan
// from the SIGCHLD that armed it: in a burst of exits, which the exit
// watch reaps, the walk comes once the replacements are forked, on the
// same thread, rather than between their forks. Walks of 10,000 children
// took 6.6 % of poold's CPU in bursts of 100 kill -9s (perf, poold-bench
// tenk at load ~45; 5-35 ms a walk at that load), half as much as the
// replacements' forks.
const (
	backstopDelay = 50 * time.Millisecond
	backstopSpan  = 250 * time.Millisecond
)

// addBatch is how many pids queued for the thread wake it. Waking it for
// each new worker cost the spawner's thread some 13 us a spawn (a
// wake-up of another CPU); the spawner flushes the rest at each SIGCHLD.
const addBatch = 64

// exitWatch is the thread that holds the workers' pidfds, and the epoll
// set the spawner reads them through.
type exitWatch struct {
	ep   int                               // epoll set of the pidfds, in both fd tables
	wake int                               // eventfd in both fd tables: the spawner's write wakes the thread
	tid  int                               // the thread (tests); set before start returns
	open func(pid, flags int) (int, error) // pidfd_open
	// ready gets a value when a pidfd is readable after the thread's
	// pass (a worker that ended before it was watched, or since the
	// spawner's last look).
	ready chan struct{}
	quit  chan struct{} // closed by stop
	done  chan struct{} // closed when the thread has ended
	err   error         // why it ended on its own; read after done

	mu  sync.Mutex
	ops []pidOp // from the spawner, in order
	evs []unix.EpollEvent
}

// pidOp asks the thread to watch a worker's pid, or to close its pidfd
// once the spawner has reaped it. In order: a pid is reaped, and so
// closed, before it can be a new worker's.
type pidOp struct {
	pid   int
	close bool
}

// startExitWatch starts the thread, or says why it cannot run here.
// open is pidfd_open (unix.PidfdOpen; tests make it fail).
func startExitWatch(open func(pid, flags int) (int, error)) (*exitWatch, error) {
	// The Go runtime's poller must exist before the table is copied, or
	// the thread's copy would lack the fds the runtime uses on any
	// thread. A pipe's os.File sets it up (if nothing has yet).
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	r.Close()
	w.Close()
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(ep)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	x := &exitWatch{ep: ep, wake: wake, open: open, ready: make(chan struct{}, 1),
		quit: make(chan struct{}), done: make(chan struct{}), evs: make([]unix.EpollEvent, 256)}
	started := make(chan error, 1)
	go x.run(started)
	if err := <-started; err != nil {
		<-x.done
		x.closeFDs()
		return nil, err
	}
	return x, nil
}

// add has the thread watch pids, which must be unreaped children of the
// spawner's thread (so that no other process can have their pids): at
// once for a batch, else at the next add that fills one or the next
// flush.
func (x *exitWatch) add(pids ...int) {
	x.mu.Lock()
	n := len(x.ops)
	for _, pid := range pids {
		x.ops = append(x.ops, pidOp{pid: pid})
	}
	x.mu.Unlock()
	if n < addBatch && n+len(pids) >= addBatch {
		x.poke()
	}
}

// reaped has the thread close pid's pidfd, at its next wake.
func (x *exitWatch) reaped(pid int) {
	x.mu.Lock()
	x.ops = append(x.ops, pidOp{pid: pid, close: true})
	x.mu.Unlock()
}

// flush has the thread take what is queued so far.
func (x *exitWatch) flush() {
	x.mu.Lock()
	n := len(x.ops)
	x.mu.Unlock()
	if n > 0 {
		x.poke()
	}
}

// ended lists pids whose pidfds are readable, up to a buffer's worth:
// each a worker that ended, unless reaped already (its pidfd is closed at
// the thread's next wake). The set is level-triggered: a pidfd stays
// readable, and is named again, until it is closed. Spawner's goroutine
// only.
func (x *exitWatch) ended() []int {
	for {
		n, err := unix.EpollWait(x.ep, x.evs, 0)
		if err == unix.EINTR {
			continue
		}
		pids := make([]int, 0, max(n, 0))
		for _, ev := range x.evs[:max(n, 0)] {
			pids = append(pids, int(ev.Fd))
		}
		return pids
	}
}

// full says whether ended filled its buffer: more may be readable.
func (x *exitWatch) full(pids []int) bool { return len(pids) == len(x.evs) }

// poke wakes the thread.
func (x *exitWatch) poke() {
	one := [8]byte{1}
	_, _ = unix.Write(x.wake, one[:]) // EAGAIN only when the counter is full: awake anyway
}

// stop ends the thread and waits for it; its pidfds close with its table.
func (x *exitWatch) stop() {
	close(x.quit)
	x.poke()
	<-x.done
	x.closeFDs()
}

func (x *exitWatch) closeFDs() {
	unix.Close(x.wake)
	unix.Close(x.ep)
}

// run is the thread: it never unlocks it, so that the thread, and the fd
// table it unshares, end with this goroutine.
func (x *exitWatch) run(started chan<- error) {
	runtime.LockOSThread()
	defer close(x.done)
	err := x.setup()
	started <- err
	if err != nil {
		return
	}
	x.err = x.loop()
}

// setup gives the thread its own fd table holding only what it needs.
func (x *exitWatch) setup() error {
	x.tid = unix.Gettid()
	if err := unix.Unshare(unix.CLONE_FILES); err != nil {
		return fmt.Errorf("unshare CLONE_FILES: %w", err)
	}
	if err := closeCopied(); err != nil {
		return err
	}
	fd, err := x.open(os.Getpid(), 0)
	if err != nil {
		return fmt.Errorf("pidfd_open: %w (needs Linux 5.3)", err)
	}
	unix.Close(fd)
	return nil
}

// closeCopied closes, in the calling thread's own fd table, every fd but
// 0-2 and anonymous inodes (the epoll set and eventfd are).
func closeCopied() error {
	const dir = "/proc/thread-self/fd"
	d, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	var names []string
	buf := make([]byte, 8192)
	for {
		n, err := unix.ReadDirent(d, buf)
		if err != nil {
			unix.Close(d)
			return fmt.Errorf("read %s: %w", dir, err)
		}
		if n == 0 {
			break
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
	unix.Close(d)
	link := make([]byte, 256)
	for _, name := range names {
		fd, err := strconv.Atoi(name)
		if err != nil || fd <= 2 || fd == d {
			continue
		}
		n, err := unix.Readlink(dir+"/"+name, link)
		if err == nil && strings.HasPrefix(string(link[:n]), "anon_inode:") {
			continue
		}
		unix.Close(fd)
	}
	return nil
}

// loop opens and closes pidfds as the spawner asks, until stop.
func (x *exitWatch) loop() error {
	fds := map[int]int{} // pid -> its pidfd
	var cnt [8]byte
	for {
		if _, err := unix.Read(x.wake, cnt[:]); err != nil && err != unix.EINTR {
			return fmt.Errorf("read the exit watch's eventfd: %w", err)
		}
		select {
		case <-x.quit:
			return nil
		default:
		}
		x.mu.Lock()
		ops := x.ops
		x.ops = nil
		x.mu.Unlock()
		if err := x.apply(ops, fds); err != nil {
			return err
		}
	}
}

// apply opens a pidfd for each pid to watch and adds it to the set, and
// closes those of reaped pids; it tells the spawner when a pidfd is then
// readable (a worker that ended before it was watched, or after the
// spawner's last look).
func (x *exitWatch) apply(ops []pidOp, fds map[int]int) error {
	for _, op := range ops {
		if fd, ok := fds[op.pid]; ok { // reaped, or stale: its pid again
			unix.Close(fd) // and out of the epoll set
			delete(fds, op.pid)
		}
		if op.close {
			continue
		}
		fd, err := x.open(op.pid, 0)
		if err == unix.ESRCH { // reaped already (by a walk); its close follows
			continue
		}
		if err != nil {
			return fmt.Errorf("pidfd_open of worker pid %d: %w", op.pid, err)
		}
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(op.pid)}
		if err := unix.EpollCtl(x.ep, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
			unix.Close(fd)
			return fmt.Errorf("epoll_ctl of worker pid %d's pidfd: %w", op.pid, err)
		}
		fds[op.pid] = fd
	}
	// Level-triggered: a look leaves the events to the spawner. Once the
	// closes are done, what is readable is a worker not reaped yet.
	var one [1]unix.EpollEvent
	if n, _ := unix.EpollWait(x.ep, one[:], 0); n > 0 {
		select {
		case x.ready <- struct{}{}:
		default:
		}
	}
	return nil
}
