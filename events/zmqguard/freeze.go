package zmqguard

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Freezing a guard's accepted connections, so that an in-place upgrade
// hands them to the next image (HandOff) rather than closing them in the
// exec with whatever request was on its way. A frozen connection reads
// up to the end of the message it is in, then no more: the bytes after
// that boundary stay in the kernel's socket buffer for the next image,
// which presents the connection to zmq4 as a fresh one (handed.go).
// zmq4 reads each frame's header and body with exact sizes, so nothing is
// read ahead of a boundary.

// frozenSet is a Guard's accepted connections and whether they are
// frozen.
type frozenSet struct {
	mu     sync.Mutex
	frozen bool
	thaw   chan struct{} // closed when the freeze ends
	conns  map[*conn]struct{}
}

func (f *frozenSet) add(c *conn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.conns == nil {
		f.conns = map[*conn]struct{}{}
	}
	f.conns[c] = struct{}{}
}

func (f *frozenSet) remove(c *conn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.conns, c)
}

// Freeze makes g's accepted connections stop reading at their next
// message boundary, until thaw is called. A connection accepted while
// frozen stops after its handshake.
func (g *Guard) Freeze() (thaw func()) {
	f := &g.frozen
	f.mu.Lock()
	if !f.frozen {
		f.frozen, f.thaw = true, make(chan struct{})
	}
	conns := make([]*conn, 0, len(f.conns))
	for c := range f.conns {
		conns = append(conns, c)
	}
	f.mu.Unlock()
	for _, c := range conns {
		_ = c.raw.SetReadDeadline(time.Unix(1, 0)) // wakes a Read at a boundary
	}
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.frozen {
			f.frozen = false
			close(f.thaw)
		}
	}
}

// Parked reports whether every accepted connection of g is frozen at a
// message boundary (or closed): nothing more comes in.
func (g *Guard) Parked() bool {
	f := &g.frozen
	f.mu.Lock()
	defer f.mu.Unlock()
	for c := range f.conns {
		if !c.isParked() {
			return false
		}
	}
	return true
}

// Unparked counts g's accepted connections not stopped at a message
// boundary (reading, or in the middle of a message) while frozen; 0 when
// not frozen.
func (g *Guard) Unparked() int {
	f := &g.frozen
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.frozen {
		return 0
	}
	n := 0
	for c := range f.conns {
		if !c.isParked() {
			n++
		}
	}
	return n
}

// Delivered counts the whole messages g's accepted connections passed to
// zmq4 after their handshakes: once Parked, a socket that received as
// many has every message that came in.
func (g *Guard) Delivered() uint64 { return g.delivered.Load() }

// parkIfFrozen waits, in Read at a message boundary, while the guard is
// frozen; it fails once the conn is closed.
func (c *conn) parkIfFrozen() error {
	f := &c.g.frozen
	for {
		f.mu.Lock()
		frozen, thaw := f.frozen, f.thaw
		f.mu.Unlock()
		if !frozen {
			return nil
		}
		c.parked.Store(true)
		select {
		case <-thaw:
			c.parked.Store(false)
		case <-c.closing:
			c.parked.Store(false)
			return c.opErr("read", net.ErrClosed)
		}
	}
}

func (c *conn) isParked() bool {
	if c.parked.Load() {
		return true
	}
	select {
	case <-c.closing:
		return true
	default:
		return false
	}
}

// atBoundary reports whether the next byte zmq4 reads begins a message
// (past the handshake, nothing left to replay).
func (c *conn) atBoundary() bool {
	return c.server && len(c.replay) == 0 && c.in.handshook() && c.delivered >= c.in.handshakeEnd && c.in.atMessageStart()
}

// readRaw reads from the network, parking at a message boundary while
// the guard is frozen. The deadline Freeze sets to wake a Read is cleared
// here (server conns have no other read deadline once handshaken).
func (c *conn) readRaw(b []byte) (int, error) {
	for {
		if c.atBoundary() {
			if err := c.parkIfFrozen(); err != nil {
				return 0, err
			}
		}
		n, err := c.raw.Read(b)
		if c.server && n == 0 && errors.Is(err, os.ErrDeadlineExceeded) && c.adopted.Load() {
			_ = c.raw.SetReadDeadline(time.Time{})
			continue
		}
		return n, err
	}
}

// Handed is one connection handed to the next image: a dup of its fd
// (not close-on-exec), the key of the listener that accepted it, and the
// handshake its peer sent (greeting and READY), for the next image to
// replay to zmq4.
type Handed struct {
	Key       string `json:"key"`
	FD        int    `json:"fd"`
	Handshake []byte `json:"handshake"`
}

// Handoff is the connections HandOff took.
type Handoff struct {
	Conns []Handed
	conns []*conn
	// Left counts the parked connections not handed over for want of
	// fds (Err says why): the exec closes them, their clients reconnect.
	Left int
	Err  error
}

// HandOffReserve is how many fds HandOff leaves free for the rest of the
// hand-over (the state's memfd, the old binary for a rollback): short
// of fds, it hands over fewer connections rather than make the upgrade
// fail.
var HandOffReserve = 16

// HandOff lists g's frozen connections parked at a boundary, each with a
// dup of its fd that survives an exec. Others (in their handshake, or in
// a message that has not ended) are left out: the exec closes them. So
// are those for which no fd is left (Left, Err).
func (g *Guard) HandOff() *Handoff {
	h := &Handoff{}
	f := &g.frozen
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.frozen {
		return h
	}
	release := reserveFDs(HandOffReserve)
	defer release()
	for c := range f.conns {
		if !c.parked.Load() || c.key == "" || c.hs == nil {
			continue
		}
		fd := rawConnFD(c.raw)
		if fd < 0 {
			continue
		}
		if h.Err != nil {
			h.Left++
			continue
		}
		dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD, 3)
		if err != nil {
			h.Left++
			var lim unix.Rlimit
			_ = unix.Getrlimit(unix.RLIMIT_NOFILE, &lim)
			h.Err = fmt.Errorf("dup the fd of a connection for the next image: %w (RLIMIT_NOFILE %d, %d fds kept free for the hand-over): "+
				"raise LimitNOFILE= in poold's systemd unit, or ulimit -n where it starts", err, lim.Cur, HandOffReserve)
			continue
		}
		h.Conns = append(h.Conns, Handed{Key: c.key, FD: dup, Handshake: c.hs})
		h.conns = append(h.conns, c)
	}
	return h
}

// reserveFDs holds n fds open until release (fewer if there are not n).
func reserveFDs(n int) (release func()) {
	var held []int
	for range n {
		fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			break
		}
		held = append(held, fd)
	}
	return func() {
		for _, fd := range held {
			unix.Close(fd)
		}
	}
}

// Seal runs just before the exec: a connection that is no longer parked,
// or has a reply not all written, would reach the next image in the
// middle of a message; it is shut down instead (its peer sees it close,
// as without a hand-over).
func (h *Handoff) Seal() {
	for i, c := range h.conns {
		c.mu.Lock()
		clean := len(c.pending) == 0 && c.inflight == 0 && !c.closed
		c.mu.Unlock()
		if !clean || !c.parked.Load() {
			_ = unix.Shutdown(h.Conns[i].FD, unix.SHUT_RDWR)
		}
	}
}

// Cancel closes the dups: the exec did not happen.
func (h *Handoff) Cancel() {
	for _, hc := range h.Conns {
		unix.Close(hc.FD)
	}
	h.Conns, h.conns = nil, nil
}

// rawConnFD is a conn's own fd, or -1.
func rawConnFD(rc net.Conn) int {
	sc, ok := rc.(syscall.Conn)
	if !ok {
		return -1
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return -1
	}
	fd := -1
	_ = raw.Control(func(u uintptr) { fd = int(u) })
	return fd
}
