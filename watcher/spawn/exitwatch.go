package spawn

import (
	"errors"
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
// spawner names and waits for them in an epoll set of its own. Each pid
// whose pidfd turns readable reaches the spawner as a hint, and the
// spawner reaps that pid alone (waitid P_PID) if it is a worker that
// ended. A hint only saves a walk: one for a pid that has not ended, or
// is no worker any more, changes nothing. The thread ends with the
// spawner, or at an exec, and its table with it.
//
// The walk stays for what has no pidfd: a worker's orphans (on the main
// thread) and any exit whose hint went astray. With hints, a SIGCHLD
// leaves the walk to a backstop a little later, one walk for a burst.
// Below exitWatchMin workers, where a walk is cheap, and wherever a hint
// cannot be had (no pidfd_open before Linux 5.3, unshare refused, as
// Docker's default seccomp profile does without CAP_SYS_ADMIN, or a
// pidfd refused for want of fds), the spawner walks on every SIGCHLD.

// exitWatchMin is how many live workers start the exit watch: a walk of
// 512 children costs about 20 us.
const exitWatchMin = 512

// backstopDelay is how long after a SIGCHLD the spawner walks its
// children while hints run: how late a worker's orphan may be reaped.
const backstopDelay = 50 * time.Millisecond

// wakeMark is the epoll data of the wake eventfd; pids are positive.
const wakeMark = -1

// exitWatch is the thread that holds the workers' pidfds.
type exitWatch struct {
	wake  int                               // eventfd in both fd tables: the spawner's write wakes the thread
	tid   int                               // the thread (tests); set before start returns
	open  func(pid, flags int) (int, error) // pidfd_open
	hints chan int
	quit  chan struct{} // closed by stop
	done  chan struct{} // closed when the thread has ended
	err   error         // why it ended on its own; read after done

	mu    sync.Mutex
	queue []int // pids to watch, from the spawner
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
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	x := &exitWatch{wake: wake, open: open, hints: make(chan int, 1024), quit: make(chan struct{}), done: make(chan struct{})}
	ready := make(chan error, 1)
	go x.run(ready)
	if err := <-ready; err != nil {
		<-x.done
		unix.Close(wake)
		return nil, err
	}
	return x, nil
}

// addBatch is how many queued pids wake the thread. Waking it for each
// new worker cost the spawner's thread some 13 us a spawn (a wake-up of
// another CPU); a worker that ends before the thread has taken its pid is
// taken at the SIGCHLD (flush), and its pidfd is readable at once.
const addBatch = 64

// add has the thread watch pids, which must be unreaped children of the
// spawner's thread (so that no other process can have their pids): at
// once for addBatch or more, else at the next add that fills a batch or
// the next flush.
func (x *exitWatch) add(pids ...int) {
	x.mu.Lock()
	n := len(x.queue)
	x.queue = append(x.queue, pids...)
	x.mu.Unlock()
	if n < addBatch && n+len(pids) >= addBatch {
		x.poke()
	}
}

// flush has the thread take the pids queued so far.
func (x *exitWatch) flush() {
	x.mu.Lock()
	n := len(x.queue)
	x.mu.Unlock()
	if n > 0 {
		x.poke()
	}
}

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
	unix.Close(x.wake)
}

// run is the thread: it never unlocks it, so that the thread, and the fd
// table it unshares, end with this goroutine.
func (x *exitWatch) run(ready chan<- error) {
	runtime.LockOSThread()
	defer close(x.done)
	ep, err := x.setup()
	ready <- err
	if err != nil {
		return
	}
	x.err = x.loop(ep)
}

// setup gives the thread its own fd table holding only what it needs.
func (x *exitWatch) setup() (int, error) {
	x.tid = unix.Gettid()
	if err := unix.Unshare(unix.CLONE_FILES); err != nil {
		return -1, fmt.Errorf("unshare CLONE_FILES: %w", err)
	}
	if err := closeCopied(x.wake); err != nil {
		return -1, err
	}
	fd, err := x.open(os.Getpid(), 0)
	if err != nil {
		return -1, fmt.Errorf("pidfd_open: %w (needs Linux 5.3)", err)
	}
	unix.Close(fd)
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("epoll_create1: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: wakeMark}
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, x.wake, &ev); err != nil {
		return -1, fmt.Errorf("epoll_ctl: %w", err)
	}
	return ep, nil
}

// closeCopied closes, in the calling thread's own fd table, every fd but
// 0-2, keep and anonymous inodes.
func closeCopied(keep int) error {
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
		if err != nil || fd <= 2 || fd == keep || fd == d {
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

// errQuit ends the loop on stop.
var errQuit = errors.New("stopped")

// loop waits for pidfds to turn readable and hands their pids on.
func (x *exitWatch) loop(ep int) error {
	fds := map[int]int{} // pid -> its pidfd
	evs := make([]unix.EpollEvent, 256)
	for {
		n, err := unix.EpollWait(ep, evs, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("epoll_wait: %w", err)
		}
		for _, ev := range evs[:n] {
			if ev.Fd == wakeMark {
				err = x.watchQueued(ep, fds)
			} else {
				pid := int(ev.Fd)
				if fd, ok := fds[pid]; ok {
					unix.Close(fd) // and out of the epoll set
					delete(fds, pid)
				}
				err = x.hint(pid)
			}
			if err == errQuit {
				return nil
			}
			if err != nil {
				return err
			}
		}
	}
}

// watchQueued opens a pidfd for each pid the spawner queued.
func (x *exitWatch) watchQueued(ep int, fds map[int]int) error {
	select {
	case <-x.quit:
		return errQuit
	default:
	}
	var cnt [8]byte
	_, _ = unix.Read(x.wake, cnt[:])
	x.mu.Lock()
	q := x.queue
	x.queue = nil
	x.mu.Unlock()
	for _, pid := range q {
		if old, ok := fds[pid]; ok { // its pid again: the old pidfd is stale
			unix.Close(old)
			delete(fds, pid)
		}
		fd, err := x.open(pid, 0)
		if err == unix.ESRCH { // reaped already (by a walk)
			if err := x.hint(pid); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("pidfd_open of worker pid %d: %w", pid, err)
		}
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(pid)}
		if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
			unix.Close(fd)
			return fmt.Errorf("epoll_ctl of worker pid %d's pidfd: %w", pid, err)
		}
		fds[pid] = fd
	}
	return nil
}

// hint hands pid to the spawner.
func (x *exitWatch) hint(pid int) error {
	select {
	case x.hints <- pid:
		return nil
	case <-x.quit:
		return errQuit
	}
}
