// Package notify is the server side of the systemd notify protocol: poold
// binds a unix datagram socket, puts its path in each worker's
// NOTIFY_SOCKET, and workers send "KEY=VALUE\n" lines to it (READY=1,
// STATUS=..., STOPPING=1, RELOADING=1, MAINPID=..., WATCHDOG=1), as
// sd_notify(3), go-systemd's daemon.SdNotify and gunicorn do.
//
// Who sent a message: the kernel attaches the sender's pid, uid and gid to
// every datagram (SO_PASSCRED / SCM_CREDENTIALS; a sender cannot forge
// them unless it has CAP_SYS_ADMIN), and the listener adds the sender's
// process group id, read when the datagram is received. The sender is not
// always the worker poold started: a worker's child or grandchild may send
// (uvicorn/gunicorn-style managers, shell wrappers). poold starts every
// worker as its own process-group leader, so a consumer matches a message
// to a worker by Pid first, then by Pgid (== the worker's pid unless the
// sender moved itself to another group), then by the MAINPID field if the
// sender names a pid it manages. Messages whose sender the kernel could
// not name (pid 0: a sender in another pid namespace) are dropped.
//
// Permissions: the socket file is chmod'ed to the Listener's mode, 0600 by
// default, so only poold's own user can send. Workers that run under
// another uid need WithMode(0o666) AND a directory they can search (e.g.
// 0711); that is safe because identity comes from the kernel's
// credentials, not from who can open the socket: the consumer must ignore
// messages whose Pid/Pgid is none of its workers. A path starting with '@'
// is a Linux abstract socket (no file, no permissions, no stale file); it
// is reachable from anything in poold's network namespace.
//
// Concurrency: New does no I/O. Listen binds (optional: Run binds if
// needed); Run reads datagrams on its own goroutine until ctx is done, then
// closes and removes the socket and returns nil. Messages arrive on the
// channel returned by Messages, which is bounded: when the consumer lags,
// new messages are dropped and counted (Stats) so the reader never
// blocks. The channel is never closed. Stats is safe from any goroutine.
package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
)

// MaxMessage is the largest datagram accepted, as systemd's own limit
// (PIPE_BUF). Longer ones are dropped and counted.
const MaxMessage = 4096

// maxPath is the longest socket path a sockaddr_un holds (108 bytes with
// the terminating NUL).
const maxPath = 107

// DefaultBuffer is the default capacity of the Messages channel.
const DefaultBuffer = 256

// Message is one notification.
type Message struct {
	Pid  int // the sending process, from the kernel's credentials
	Pgid int // its process group when received; 0 if it had already gone
	Uid  int
	Gid  int
	// Fields holds the parsed KEY=VALUE lines; a repeated key keeps its
	// last value; lines without '=' are ignored.
	Fields map[string]string
	Raw    string
}

// Ready reports whether the message says READY=1.
func (m Message) Ready() bool { return m.Fields["READY"] == "1" }

// Stats counts what the listener saw since Run started.
type Stats struct {
	Delivered uint64 // put on the channel
	Dropped   uint64 // channel full
	Oversized uint64 // longer than MaxMessage
	NoCreds   uint64 // no usable sender credentials
}

// Option changes a Listener's defaults.
type Option func(*Listener)

// WithMode sets the socket file's permissions (default 0600).
func WithMode(mode os.FileMode) Option { return func(l *Listener) { l.mode = mode.Perm() } }

// WithBuffer sets the capacity of the Messages channel (default
// DefaultBuffer; at least 1).
func WithBuffer(n int) Option {
	return func(l *Listener) {
		if n < 1 {
			n = 1
		}
		l.buffer = n
	}
}

// Listener receives notifications on one socket.
type Listener struct {
	path   string
	log    hclog.Logger
	mode   os.FileMode
	buffer int
	ch     chan Message

	mu   sync.Mutex
	conn *net.UnixConn
	ino  uint64 // of the bound socket file, to remove only our own
	dev  uint64

	delivered, dropped, oversized, noCreds atomic.Uint64
}

// New returns a listener for path; it does no I/O.
func New(path string, log hclog.Logger, opts ...Option) *Listener {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	l := &Listener{path: path, log: log.Named("notify"), mode: 0o600, buffer: DefaultBuffer}
	for _, o := range opts {
		o(l)
	}
	l.ch = make(chan Message, l.buffer)
	return l
}

// Path is the value for a worker's NOTIFY_SOCKET.
func (l *Listener) Path() string { return l.path }

// Messages is where notifications arrive. It is never closed.
func (l *Listener) Messages() <-chan Message { return l.ch }

// Stats returns the counters.
func (l *Listener) Stats() Stats {
	return Stats{
		Delivered: l.delivered.Load(),
		Dropped:   l.dropped.Load(),
		Oversized: l.oversized.Load(),
		NoCreds:   l.noCreds.Load(),
	}
}

func (l *Listener) abstract() bool { return strings.HasPrefix(l.path, "@") }

// Listen binds the socket: it removes a stale socket file left at path
// (never a file of another kind), binds, and sets the file's mode. Calling
// it is optional (Run does), but lets a caller see a bind error before it
// starts workers that would send to the socket. After a successful Listen
// the caller must call Run, which releases the socket.
func (l *Listener) Listen() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn != nil {
		return nil
	}
	if l.path == "" || l.path == "@" {
		return errors.New("notify: empty socket path")
	}
	if len(l.path) > maxPath {
		return fmt.Errorf("notify: socket path %q is %d bytes, a unix socket path holds at most %d: choose a shorter runtime directory", l.path, len(l.path), maxPath)
	}
	if !l.abstract() {
		if err := removeStale(l.path); err != nil {
			return err
		}
	}
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PASSCRED, 1)
		}); err != nil {
			return err
		}
		if serr != nil {
			return fmt.Errorf("setsockopt SO_PASSCRED: %w", serr)
		}
		return nil
	}}
	pc, err := lc.ListenPacket(context.Background(), "unixgram", l.path)
	if err != nil {
		return fmt.Errorf("notify: bind socket %s: %w", l.path, err)
	}
	conn := pc.(*net.UnixConn)
	if !l.abstract() {
		if err := os.Chmod(l.path, l.mode); err != nil {
			conn.Close()
			os.Remove(l.path)
			return fmt.Errorf("notify: socket %s: %w", l.path, err)
		}
		var st unix.Stat_t
		if err := unix.Lstat(l.path, &st); err == nil {
			l.dev, l.ino = uint64(st.Dev), st.Ino
		}
	}
	l.conn = conn
	return nil
}

// removeStale removes a socket file left at path by an earlier run; it
// refuses to remove anything that is not a socket.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("notify: socket %s: %w", path, err)
	}
	if fi.Mode().Type() != os.ModeSocket {
		return fmt.Errorf("notify: socket %s: a %s is in the way, not a stale socket: remove it or choose another path", path, kindOf(fi.Mode()))
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("notify: remove stale socket %s: %w", path, err)
	}
	return nil
}

func kindOf(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m.IsRegular():
		return "regular file"
	case m&os.ModeSymlink != 0:
		return "symlink"
	default:
		return "non-socket file"
	}
}

// Run binds (unless Listen did) and delivers messages until ctx is done;
// then it closes the socket, removes its file if it is still the one it
// bound, and returns nil. It returns an error only when binding or reading
// fails.
func (l *Listener) Run(ctx context.Context) error {
	if err := l.Listen(); err != nil {
		return err
	}
	l.mu.Lock()
	conn := l.conn
	l.mu.Unlock()
	defer l.cleanup()

	stop := make(chan struct{})
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		select {
		case <-ctx.Done():
		case <-stop:
		}
		conn.Close()
	}()
	err := l.read(ctx, conn)
	close(stop)
	<-closed
	return err
}

func (l *Listener) cleanup() {
	if l.abstract() || l.ino == 0 {
		return
	}
	var st unix.Stat_t
	if err := unix.Lstat(l.path, &st); err != nil {
		return
	}
	// A successor (a new poold taking over) may have bound the path
	// already: leave its socket alone.
	if uint64(st.Dev) == l.dev && st.Ino == l.ino {
		os.Remove(l.path)
	}
}

// oobSize holds one SCM_CREDENTIALS message and a generous SCM_RIGHTS one
// (fds a sender passes, e.g. FDSTORE=1, are closed at once).
var oobSize = unix.CmsgSpace(unix.SizeofUcred) + unix.CmsgSpace(64*4)

func (l *Listener) read(ctx context.Context, conn *net.UnixConn) error {
	buf := make([]byte, MaxMessage+1)
	oob := make([]byte, oobSize)
	for {
		n, oobn, flags, _, err := conn.ReadMsgUnix(buf, oob)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("notify: read socket %s: %w", l.path, err)
		}
		l.handle(buf[:n], oob[:oobn], flags)
	}
}

// handle decodes one datagram and delivers it. It never blocks.
func (l *Listener) handle(data, oob []byte, flags int) {
	cred, err := credentials(oob)
	if err != nil {
		l.log.Warn("cannot parse control message", "error", err)
	}
	if flags&unix.MSG_TRUNC != 0 || len(data) > MaxMessage {
		if c := l.oversized.Add(1); isPow2(c) {
			l.log.Warn("dropped oversized notify message", "limit", MaxMessage, "pid", credPid(cred), "count", c)
		}
		return
	}
	if cred == nil || cred.Pid <= 0 {
		if c := l.noCreds.Add(1); isPow2(c) {
			l.log.Warn("dropped notify message without sender credentials", "count", c)
		}
		return
	}
	m := Message{
		Pid:    int(cred.Pid),
		Uid:    int(cred.Uid),
		Gid:    int(cred.Gid),
		Raw:    string(data),
		Fields: Parse(data),
	}
	if pg, err := unix.Getpgid(m.Pid); err == nil {
		m.Pgid = pg
	}
	select {
	case l.ch <- m:
		l.delivered.Add(1)
	default:
		if c := l.dropped.Add(1); isPow2(c) {
			l.log.Warn("notify consumer is slow, dropped message", "pid", m.Pid, "count", c)
		}
	}
}

func credPid(c *unix.Ucred) int32 {
	if c == nil {
		return 0
	}
	return c.Pid
}

func isPow2(n uint64) bool { return n&(n-1) == 0 }

// credentials returns the sender's credentials from the control data, if
// any, and closes every fd passed along with the message.
func credentials(oob []byte) (*unix.Ucred, error) {
	if len(oob) == 0 {
		return nil, nil
	}
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, err
	}
	var cred *unix.Ucred
	for i := range msgs {
		switch {
		case msgs[i].Header.Level == unix.SOL_SOCKET && msgs[i].Header.Type == unix.SCM_CREDENTIALS:
			if c, err := unix.ParseUnixCredentials(&msgs[i]); err == nil {
				cred = c
			}
		case msgs[i].Header.Level == unix.SOL_SOCKET && msgs[i].Header.Type == unix.SCM_RIGHTS:
			if fds, err := unix.ParseUnixRights(&msgs[i]); err == nil {
				for _, fd := range fds {
					unix.Close(fd)
				}
			}
		}
	}
	return cred, nil
}

// Parse splits a notify message into its KEY=VALUE fields.
func Parse(data []byte) map[string]string {
	fields := make(map[string]string)
	for line := range bytes.SplitSeq(data, []byte("\n")) {
		k, v, ok := bytes.Cut(line, []byte("="))
		if !ok || len(k) == 0 {
			continue
		}
		fields[string(k)] = string(v)
	}
	return fields
}
