package workertest

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// The cases below are shared by the tests of the two drains that close a
// connection on which nothing has come (workertest's "serve" mode and
// sockets/worker, which cmd/exampleworker uses), so that the two do not
// grow apart.

// hang bounds each wait of the cases: far longer than any wait a working
// drain makes, so that it only catches a hang.
const hang = 60 * time.Second

// SplitCase is a client whose request header comes in two pieces: the
// first before its worker's SIGTERM (the worker has read it), the rest
// once the drain has closed the connections that sent nothing, which a
// second, silent connection shows. The request must be answered.
type SplitCase struct {
	Name string
	// Aged: both connections are older than the drain's window at
	// SIGTERM, so the drain closes the silent one at once; otherwise at
	// the window's end.
	Aged bool
}

// SplitCases are the two moments a drain closes silent connections.
var SplitCases = []SplitCase{
	{Name: "rest after the window's end"},
	{Name: "older than the window, rest after SIGTERM", Aged: true},
}

// Run plays the case against the only worker accepting on addr; sigterm
// signals that worker. It returns what went wrong, if anything.
func (c SplitCase) Run(addr string, sigterm func() error) error {
	split, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer split.Close()
	silent, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer silent.Close()
	// An answer on a third connection: the worker, the only one
	// accepting, took the two before (the socket's queue is in order).
	if err := get(addr); err != nil {
		return fmt.Errorf("a request beside the split one: %w", err)
	}
	accepted := time.Now()
	if _, err := io.WriteString(split, "GET / HTTP/1.1\r\nHost: x\r\n"); err != nil {
		return err
	}
	if err := readByPeer(split); err != nil {
		return err
	}
	if c.Aged {
		// The case is the connections' age: time must pass, no event is
		// awaited.
		<-time.After(time.Until(accepted.Add(drainWindow + 100*time.Millisecond)))
	}
	if err := sigterm(); err != nil {
		return err
	}
	_ = silent.SetReadDeadline(time.Now().Add(hang))
	if _, err := silent.Read(make([]byte, 1)); errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("the draining worker kept a connection that sent nothing for %v", hang)
	}
	if _, err := io.WriteString(split, "User-Agent: split\r\n\r\n"); err != nil {
		return fmt.Errorf("the rest of the header: %w", err)
	}
	_ = split.SetReadDeadline(time.Now().Add(hang))
	resp, err := http.ReadResponse(bufio.NewReader(split), nil)
	if err != nil {
		return fmt.Errorf("a request whose header came in two pieces got no answer: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("a request whose header came in two pieces: %s, want 200", resp.Status)
	}
	return nil
}

// get asks addr for / on a connection of its own.
func get(addr string) error {
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: hang}).Get("http://" + addr + "/")
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// readByPeer waits until the process at c's other end has read all that
// came to it on c: its socket's receive queue in /proc/net/tcp is empty.
func readByPeer(c net.Conn) error {
	local, remote := c.LocalAddr().(*net.TCPAddr), c.RemoteAddr().(*net.TCPAddr)
	deadline := time.Now().Add(hang)
	for {
		n, err := receiveQueue(remote, local)
		switch {
		case err != nil:
			return err
		case n == 0:
			return nil
		case time.Now().After(deadline):
			return fmt.Errorf("the worker left %d bytes of %v unread for %v", n, c.LocalAddr(), hang)
		}
		<-time.After(5 * time.Millisecond) // the poll's pace
	}
}

// receiveQueue is the count of bytes that came to the IPv4 socket from
// local to remote and that it has not read (/proc/net/tcp's rx_queue).
func receiveQueue(local, remote *net.TCPAddr) (int, error) {
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return 0, err
	}
	hex := func(a *net.TCPAddr) string {
		return fmt.Sprintf("%08X:%04X", binary.NativeEndian.Uint32(a.IP.To4()), a.Port)
	}
	l, r := hex(local), hex(remote)
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 || f[1] != l || f[2] != r {
			continue
		}
		_, rx, _ := strings.Cut(f[4], ":")
		n, err := strconv.ParseInt(rx, 16, 64)
		return int(n), err
	}
	return 0, fmt.Errorf("no socket from %v to %v in /proc/net/tcp", local, remote)
}

// SilentCase is one accepted connection that a drain's closing pass
// meets while no request has been read whole on it.
type SilentCase struct {
	Name string
	Send string // what its client sends
	// ServerReads: the server has read what came; otherwise it waits in
	// the kernel, unread (a loaded machine, the server not yet at it).
	ServerReads bool
	Closed      bool // the pass closes it
}

// SilentCases: a drain closes a connection on which nothing at all has
// come, never one on which something has.
var SilentCases = []SilentCase{
	{Name: "nothing came", Closed: true},
	{Name: "a whole request came, unread", Send: "GET / HTTP/1.1\r\nHost: x\r\n\r\n"},
	{Name: "part of a header came, unread", Send: "GET / HTTP/1.1\r\n"},
	{Name: "part of a header came, read", Send: "GET / HTTP/1.1\r\n", ServerReads: true},
}

// SilentDrain is what a drain hands SilentCase.Run: its own pieces.
type SilentDrain struct {
	Listen func(net.Listener) net.Listener // wraps a listener as the worker does
	Track  func(net.Conn, http.ConnState)  // its http.Server.ConnState
	Pass   func()                          // its closing pass, for connections due at once
	Unread func(net.Conn) bool             // bytes wait in the kernel
}

// Run plays the case on a loopback connection, and returns what went
// wrong, if anything.
func (c SilentCase) Run(d SilentDrain) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	l := d.Listen(ln)
	defer l.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return err
	}
	defer client.Close()
	sc, err := l.Accept()
	if err != nil {
		return err
	}
	defer sc.Close()
	d.Track(sc, http.StateNew)
	defer d.Track(sc, http.StateClosed)
	if _, err := io.WriteString(client, c.Send); err != nil {
		return err
	}
	if err := c.arrive(sc, d.Unread); err != nil {
		return err
	}
	d.Pass()
	_, err = sc.Write([]byte("x"))
	if closed := errors.Is(err, net.ErrClosed); closed != c.Closed {
		return fmt.Errorf("after the pass, closed=%v (write: %v), want %v", closed, err, c.Closed)
	}
	return nil
}

// arrive waits until what the client sent is at the server: read by it
// (ServerReads) or in its socket's receive queue.
func (c SilentCase) arrive(sc net.Conn, unread func(net.Conn) bool) error {
	switch {
	case c.Send == "":
		return nil
	case c.ServerReads:
		_ = sc.SetReadDeadline(time.Now().Add(hang))
		_, err := io.ReadFull(sc, make([]byte, len(c.Send)))
		_ = sc.SetReadDeadline(time.Time{})
		return err
	}
	deadline := time.Now().Add(hang)
	for !unread(sc) {
		if time.Now().After(deadline) {
			return fmt.Errorf("%d bytes sent, none at the server after %v", len(c.Send), hang)
		}
		<-time.After(5 * time.Millisecond) // the poll's pace
	}
	return nil
}
