package main

import (
	"io"
	"os"
	"strings"
	"testing"

	"github.com/poold/poold/arbiter/upgrade"
	"golang.org/x/sys/unix"
)

// A forged or corrupt control entry in the state cannot make the new
// image close an fd that is not a handed-over connection: 0-2, a pipe,
// an fd the state names for something else (a listener), or one named
// twice. Before, an entry whose fd was not a socket was closed, whatever
// it was.
func TestInheritConnsLeavesOtherFDsAlone(t *testing.T) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(sp[0])
	defer unix.Close(sp[1])
	key := "unix /nonexistent/c.sock"
	st := &upgrade.State{
		Transports: map[string]int{key: sp[0]}, // a "listener"
		Control: []upgrade.Conn{
			{Key: key, FD: 0},
			{Key: key, FD: p[0]},
			{Key: key, FD: sp[0]},
		},
	}
	said := captureStderr(t, func() { inheritConns(st, p[1]) })
	for _, fd := range []int{0, p[0], p[1], sp[0]} {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
			t.Errorf("fd %d closed by inheritConns: %v", fd, err)
		}
	}
	for _, want := range []string{"fds 0-2", "not a socket", "names that fd for something else"} {
		if !strings.Contains(said, want) {
			t.Errorf("inheritConns said %q; want %q", said, want)
		}
	}
}

// captureStderr runs f with os.Stderr going to a pipe and returns what
// it wrote.
func captureStderr(t *testing.T, f func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stderr
	os.Stderr = w
	done := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		done <- string(b)
	}()
	f()
	os.Stderr = old
	w.Close()
	s := <-done
	r.Close()
	return s
}
