package zmqguard

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
)

// handOver does what an upgrade does with a listening fd: another fd of
// the same socket, made a listener again (the old one is not closed: the
// old image ends in an exec).
func handOver(t *testing.T, fd int) net.Listener {
	t.Helper()
	dup, err := syscall.Dup(fd)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(dup), "handed-over")
	defer f.Close()
	ln, err := net.FileListener(f)
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// An ipc listener handed over is taken by Listen on the same path: the
// socket file is the same one (not removed and made again), a client
// connects and gets the greeting, and Close removes the file as for a
// listener of this process's own.
func TestInheritedIPCListenerIsTakenNotRebound(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	path := filepath.Join(t.TempDir(), "c.sock")
	tr := &trans{g: New(Options{}), network: "unix"}
	old, err := tr.Listen(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	fd, ok := Listening()["unix "+path]
	if !ok {
		t.Fatalf("Listening() = %v: no unix %s", Listening(), path)
	}
	ino := inode(t, path)
	Inherit("unix", path, handOver(t, fd))
	// The old image's listener goes away without a close of the file.
	old.(*listener).raw.(*net.UnixListener).SetUnlinkOnClose(false)
	old.Close()

	l, err := tr.Listen(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if got := inode(t, path); got != ino {
		t.Errorf("socket file inode %d after Listen, want %d (the file was made again)", got, ino)
	}
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Read(make([]byte, 1)); err != nil {
		t.Errorf("no greeting on the inherited listener: %v", err)
	}
	l.Close()
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket file after Close: %v, want it removed", err)
	}
	if _, ok := Listening()["unix "+path]; ok {
		t.Errorf("a closed listener is still listed")
	}
}

// An inherited listener no Listen takes (the config moved the endpoint)
// is closed by Unclaimed.
func TestUnclaimedInheritedListenerIsClosed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	Inherit("tcp", ln.Addr().String(), ln)
	if got := Unclaimed(); !slices.Equal(got, []string{"tcp " + ln.Addr().String()}) {
		t.Errorf("Unclaimed() = %v", got)
	}
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept on an unclaimed listener: %v, want closed", err)
	}
	if got := Unclaimed(); len(got) != 0 {
		t.Errorf("Unclaimed() again = %v, want none", got)
	}
}
