package workertest

import (
	"errors"
	"net"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// What a draining worker calls a connection that has sent nothing. It is
// the same code as sockets/worker's (conns.go), which users import: the
// two drains' tests share their cases (SplitCases, SilentCases) so that
// they do not grow apart.

// queued returns how many bytes wait in socket fd's receive queue.
func queued(fd uintptr) (int, error) { return unix.IoctlGetInt(int(fd), unix.SIOCINQ) }

// heardListener accepts connections that note when their first byte
// comes (heardConn), so that the drain can tell a connection that has
// sent nothing from one whose request is partly read.
type heardListener struct{ net.Listener }

func (l heardListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &heardConn{Conn: c}, nil
}

// heardConn is an accepted connection that notes, before its first byte
// is read, that one has come.
type heardConn struct {
	net.Conn
	heard atomic.Bool // set before the first byte is taken from the kernel
}

// Read marks c heard once something (or its end) has come, then reads.
// The mark comes first: until it is set, whatever came is still in the
// kernel's queue, where the drain sees it (unread).
func (c *heardConn) Read(b []byte) (int, error) {
	if !c.heard.Load() && readable(c.Conn) {
		c.heard.Store(true)
	}
	return c.Conn.Read(b)
}

// CloseWrite keeps net/http's half close before its last close (it
// avoids a reset that would cut the last answer).
func (c *heardConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

// SyscallConn lets unread look at the socket.
func (c *heardConn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.ErrUnsupported
	}
	return sc.SyscallConn()
}

// sentNothing reports whether nothing has come on c: nothing was read
// from it, and nothing waits in the kernel to be. The queue is looked at
// first: a byte taken from it since was marked heard before.
func sentNothing(c net.Conn) bool {
	hc, ok := c.(*heardConn)
	return ok && !unread(hc) && !hc.heard.Load()
}

// readable waits, taking nothing, until c has something to read, its end,
// or an error (false: it could not wait, its read deadline passed, or the
// connection was closed).
func readable(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var peek [1]byte
	return rc.Read(func(fd uintptr) bool {
		_, _, err := syscall.Recvfrom(int(fd), peek[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return err != syscall.EAGAIN
	}) == nil
}

// unread reports whether bytes have come on c that nobody has read yet
// (true when it cannot tell).
func unread(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	n, ierr := 0, error(nil)
	if err := rc.Control(func(fd uintptr) { n, ierr = queued(fd) }); err != nil || ierr != nil {
		return true
	}
	return n > 0
}
