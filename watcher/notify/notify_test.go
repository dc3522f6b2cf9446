package notify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/go-hclog"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/poold/poold/watcher/proctest"
)

// helperEnv switches the test binary into a notify client:
//
//	send       daemon.SdNotify($NOTIFY_MSG), then wait for stdin EOF
//	child      start "send" as a child (same process group), print its
//	           pid, then wait for stdin EOF
const helperEnv = "POOLD_NOTIFY_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		goleak.VerifyTestMain(m)
		return
	case "send":
		ok, err := daemon.SdNotify(false, os.Getenv("NOTIFY_MSG"))
		if !ok || err != nil {
			fmt.Fprintf(os.Stderr, "sdnotify: sent=%v err=%v\n", ok, err)
			os.Exit(2)
		}
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	case "child":
		c := exec.Command(os.Args[0])
		c.Env = append(os.Environ(), helperEnv+"=send")
		c.Stdin = os.Stdin
		c.Stderr = os.Stderr
		if err := c.Start(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Println(c.Process.Pid)
		if err := c.Wait(); err != nil {
			os.Exit(2)
		}
		os.Exit(0)
	}
	os.Exit(3)
}

// start runs a listener on a fresh socket and stops it at cleanup.
func start(t *testing.T, opts ...Option) *Listener {
	t.Helper()
	l := New(filepath.Join(t.TempDir(), "notify.sock"), hclog.NewNullLogger(), opts...)
	if err := l.Listen(); err != nil {
		t.Fatal(err)
	}
	runIt(t, l)
	return l
}

func runIt(t *testing.T, l *Listener) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
}

func recv(t *testing.T, l *Listener) Message {
	t.Helper()
	select {
	case m := <-l.Messages():
		return m
	case <-time.After(10 * time.Second):
		t.Fatalf("no message; stats %+v", l.Stats())
	}
	return Message{}
}

// helper starts the test binary as a notify client in its own process
// group; closing the returned writer lets it exit.
func helper(t *testing.T, mode, sock, msg string, stdout io.Writer) (*exec.Cmd, io.WriteCloser) {
	t.Helper()
	c := exec.Command(os.Args[0])
	// GORACE: a -race helper would otherwise linger 1 s at exit.
	c.Env = append(os.Environ(), helperEnv+"="+mode, "NOTIFY_SOCKET="+sock, "NOTIFY_MSG="+msg, "GORACE=atexit_sleep_ms=0")
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.Stdout = stdout
	c.Stderr = os.Stderr
	in, err := c.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		in.Close()
		timer := time.AfterFunc(10*time.Second, func() { syscall.Kill(-c.Process.Pid, syscall.SIGKILL) })
		defer timer.Stop()
		if err := c.Wait(); err != nil {
			t.Errorf("helper %s: %v", mode, err)
		}
	})
	return c, in
}

func TestSdNotifyFromChild(t *testing.T) {
	l := start(t)
	c, _ := helper(t, "send", l.Path(), "READY=1\nSTATUS=serving on :8000\nMAINPID=42", nil)
	m := recv(t, l)
	want := Message{
		Pid: c.Process.Pid, Pgid: c.Process.Pid, Uid: os.Getuid(), Gid: os.Getgid(),
		Fields: map[string]string{"READY": "1", "STATUS": "serving on :8000", "MAINPID": "42"},
		Raw:    "READY=1\nSTATUS=serving on :8000\nMAINPID=42",
	}
	if d := cmp.Diff(want, m); d != "" {
		t.Errorf("message (-want +got):\n%s", d)
	}
	if !m.Ready() {
		t.Error("Ready() = false")
	}
}

// A grandchild's message carries its own pid, and the worker's (its
// group leader's) pid as Pgid.
func TestSdNotifyFromGrandchild(t *testing.T) {
	l := start(t)
	pr, pw := io.Pipe()
	c, _ := helper(t, "child", l.Path(), "READY=1", pw)
	var gpid int
	if _, err := fmt.Fscan(pr, &gpid); err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, pr)
	t.Cleanup(func() { pw.Close() })
	m := recv(t, l)
	if m.Pid != gpid || m.Pgid != c.Process.Pid || m.Pid == c.Process.Pid {
		t.Errorf("pid %d pgid %d; want pid %d (grandchild), pgid %d (worker)", m.Pid, m.Pgid, gpid, c.Process.Pid)
	}
}

func send(t *testing.T, path string, data []byte) {
	t.Helper()
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(data); err != nil {
		t.Fatal(err)
	}
}

// waitStats polls until cond holds for the listener's counters.
func waitStats(t *testing.T, l *Listener, cond func(Stats) bool) Stats {
	t.Helper()
	var s Stats
	if !proctest.Poll(10*time.Second, func() bool { s = l.Stats(); return cond(s) }) {
		t.Fatalf("stats never reached the condition: %+v", s)
	}
	return s
}

func TestRawClient(t *testing.T) {
	l := start(t)
	send(t, l.Path(), []byte("STOPPING=1\nnonsense\n=x\nSTATUS=a=b\n"))
	m := recv(t, l)
	want := map[string]string{"STOPPING": "1", "STATUS": "a=b"}
	if d := cmp.Diff(want, m.Fields); d != "" {
		t.Errorf("fields (-want +got):\n%s", d)
	}
	if m.Pid != os.Getpid() || m.Pgid != syscall.Getpgrp() {
		t.Errorf("pid %d pgid %d, want %d %d", m.Pid, m.Pgid, os.Getpid(), syscall.Getpgrp())
	}
}

func TestOversized(t *testing.T) {
	l := start(t)
	for _, n := range []int{MaxMessage + 1, 3 * MaxMessage} {
		send(t, l.Path(), []byte("READY=1\n"+strings.Repeat("x", n-8)))
	}
	send(t, l.Path(), []byte("READY=1\n"+strings.Repeat("x", MaxMessage-8)))
	m := recv(t, l)
	if len(m.Raw) != MaxMessage {
		t.Errorf("got a message of %d bytes, want the %d-byte one", len(m.Raw), MaxMessage)
	}
	// The counter follows the channel send: wait for it, then compare.
	if s := waitStats(t, l, func(s Stats) bool { return s.Delivered == 1 }); s.Oversized != 2 {
		t.Errorf("stats %+v, want 2 oversized, 1 delivered", s)
	}
}

// A consumer that does not read never blocks the reader: messages beyond
// the buffer are dropped and counted, and the first ones are kept.
func TestFullChannelDrops(t *testing.T) {
	l := start(t, WithBuffer(2))
	for i := range 5 {
		send(t, l.Path(), fmt.Appendf(nil, "STATUS=%d", i))
	}
	s := waitStats(t, l, func(s Stats) bool { return s.Delivered+s.Dropped == 5 })
	if s.Delivered != 2 || s.Dropped != 3 {
		t.Errorf("stats %+v, want 2 delivered 3 dropped", s)
	}
	for i := range 2 {
		if got := recv(t, l).Fields["STATUS"]; got != fmt.Sprint(i) {
			t.Errorf("message %d: STATUS=%s", i, got)
		}
	}
}

// The kernel always attaches credentials on a SO_PASSCRED socket; a
// sender outside poold's pid namespace shows up as pid 0. Both cases are
// checked on the decoder directly.
func TestNoCredentials(t *testing.T) {
	l := New("/unused", hclog.NewNullLogger())
	l.handle([]byte("READY=1"), nil, 0)
	zero := unix.UnixCredentials(&unix.Ucred{Pid: 0, Uid: 0, Gid: 0})
	l.handle([]byte("READY=1"), zero, 0)
	if s := l.Stats(); s.NoCreds != 2 || s.Delivered != 0 {
		t.Errorf("stats %+v, want 2 without credentials", s)
	}
	good := unix.UnixCredentials(&unix.Ucred{Pid: int32(os.Getpid())})
	l.handle([]byte("READY=1"), good, 0)
	if m := <-l.Messages(); m.Pid != os.Getpid() || m.Pgid != syscall.Getpgrp() {
		t.Errorf("message %+v", m)
	}
}

// fds passed along with a message are closed, never leaked into poold.
func TestPassedFDsClosed(t *testing.T) {
	l := start(t)
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	before := countFDs(t)
	rights := unix.UnixRights(int(f.Fd()), int(f.Fd()))
	if err := unix.Sendmsg(fd, []byte("FDSTORE=1"), rights, &unix.SockaddrUnix{Name: l.Path()}, 0); err != nil {
		t.Fatal(err)
	}
	if m := recv(t, l); m.Fields["FDSTORE"] != "1" {
		t.Errorf("message %+v", m)
	}
	if after := countFDs(t); after != before {
		t.Errorf("open fds %d -> %d: passed fds leaked", before, after)
	}
}

func countFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func TestStaleSocketReplacedAndRemoved(t *testing.T) {
	path := filepath.Join(t.TempDir(), "n.sock")
	old, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	old.Close() // a unixgram socket leaves its file behind, like a crashed poold
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("stale file missing: %v", err)
	}
	l := New(path, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	if err := l.Listen(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- l.Run(ctx) }()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || fi.Mode().Type() != os.ModeSocket {
		t.Errorf("mode %v, want a 0600 socket", fi.Mode())
	}
	send(t, path, []byte("READY=1"))
	recv(t, l)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket file not removed at stop: %v", err)
	}
}

// A successor that bound the same path keeps its socket when the old
// listener stops.
func TestStopLeavesSuccessorSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "n.sock")
	a := New(path, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	if err := a.Listen(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- a.Run(ctx) }()
	b := New(path, nil)
	if err := b.Listen(); err != nil {
		t.Fatal(err)
	}
	runIt(t, b)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	send(t, path, []byte("READY=1"))
	recv(t, b)
}

func TestMode(t *testing.T) {
	l := start(t, WithMode(0o666))
	fi, err := os.Lstat(l.Path())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o666 {
		t.Errorf("mode %v, want 0666", fi.Mode().Perm())
	}
}

func TestAbstract(t *testing.T) {
	l := New(fmt.Sprintf("@poold-notify-test-%d", os.Getpid()), nil)
	if err := l.Listen(); err != nil {
		t.Fatal(err)
	}
	runIt(t, l)
	c, _ := helper(t, "send", l.Path(), "READY=1", nil)
	if m := recv(t, l); m.Pid != c.Process.Pid || !m.Ready() {
		t.Errorf("message %+v", m)
	}
}

func TestListenErrors(t *testing.T) {
	dir := t.TempDir()
	regular := filepath.Join(dir, "file")
	if err := os.WriteFile(regular, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	long := filepath.Join(dir, strings.Repeat("a", 120))
	for _, tc := range []struct {
		path, want string
	}{
		{long, "a unix socket path holds at most 107"},
		{regular, "a regular file is in the way"},
		{filepath.Join(dir, "missing", "n.sock"), "bind socket"},
		{"", "empty socket path"},
	} {
		err := New(tc.path, nil).Run(context.Background())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.path, err, tc.want)
		}
	}
	if b, err := os.ReadFile(regular); err != nil || string(b) != "keep me" {
		t.Errorf("regular file touched: %q %v", b, err)
	}
}
