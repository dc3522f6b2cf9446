package sockets

import (
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/poold/poold/configs"
)

// passedFD is a listening socket as a service manager passes it: a bare
// fd the test no longer tracks, on addr. It returns the fd and the
// address bound.
func passedFD(t testing.TB, network, addr string) (int, string) {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	if u, ok := ln.(*net.UnixListener); ok {
		u.SetUnlinkOnClose(false) // the service manager's file, as systemd leaves it
	}
	f, err := ln.(interface{ File() (*os.File, error) }).File()
	if err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Dup(int(f.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	bound := ln.Addr().String()
	ln.Close()
	return fd, bound
}

func isOpen(fd int) bool {
	_, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	return err == nil
}

// Under systemd socket activation poold takes the sockets it is passed
// for the [sockets.NAME] they match, by name and else by address, instead
// of binding them (which failed: the address was in use, by poold
// itself); a passed socket no spec takes is closed and reported.
func TestBindPassedTakesByNameThenAddress(t *testing.T) {
	webFD, webAddr := passedFD(t, "tcp", "127.0.0.1:0")
	path := filepath.Join(t.TempDir(), "u.sock")
	uFD, _ := passedFD(t, "unix", path)
	otherFD, otherAddr := passedFD(t, "tcp", "127.0.0.1:0")
	_, port, _ := net.SplitHostPort(webAddr)
	webPort, _ := strconv.Atoi(port)

	specs := []configs.Socket{
		{Name: "web", Host: "127.0.0.1", Port: webPort},
		{Name: "u", Path: path},
		tcpSpec("fresh"),
	}
	s, unused, err := BindPassed(specs, []Passed{{FD: webFD, Name: "web"}, {FD: uFD}, {FD: otherFD, Name: "other"}})
	if err != nil {
		t.Fatalf("BindPassed: %v", err)
	}
	for name, fd := range map[string]int{"web": webFD, "u": uFD} {
		l := mustGet(t, s, name)
		if l.FD() != fd || !l.Passed() {
			t.Errorf("socket %s: fd %d passed=%v, want the passed fd %d", name, l.FD(), l.Passed(), fd)
		}
		checkPoolSide(t, l)
		checkServes(t, l)
	}
	if l := mustGet(t, s, "web"); l.Addr() != webAddr {
		t.Errorf("web: Addr %s, want %s", l.Addr(), webAddr)
	}
	// Like the sockets poold binds (README: tcp sockets always get TCP_NODELAY).
	if v, err := unix.GetsockoptInt(webFD, unix.IPPROTO_TCP, unix.TCP_NODELAY); err != nil || v == 0 {
		t.Errorf("web: TCP_NODELAY = %d, %v; want it set", v, err)
	}
	if l := mustGet(t, s, "fresh"); l.Passed() {
		t.Error("fresh: reported passed, but no passed socket matches it")
	} else {
		checkServes(t, l)
	}
	if len(unused) != 1 || !strings.Contains(unused[0], `"other"`) || !strings.Contains(unused[0], otherAddr) {
		t.Errorf("unused = %q, want the socket named other on %s", unused, otherAddr)
	}
	if isOpen(otherFD) {
		t.Errorf("fd %d of the unused passed socket is still open: its clients would wait, unanswered", otherFD)
	}
	// An unchanged reload keeps the passed socket.
	if _, err := s.Apply(specs); err != nil {
		t.Fatal(err)
	}
	if mustGet(t, s, "web").FD() != webFD {
		t.Error("a reload that changed nothing replaced the passed socket")
	}
	// Across an upgrade the socket stays the service manager's.
	for _, in := range s.Handover() {
		if in.Passed != (in.Spec.Name != "fresh") {
			t.Errorf("Handover: %s passed=%v, want only the passed sockets marked", in.Spec.Name, in.Passed)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); err != nil {
		t.Errorf("closing poold's copy removed the service manager's socket file: %v", err)
	}
}

func TestBindPassedRefusesAnotherAddress(t *testing.T) {
	before := openSockets(t)
	fd, addr := passedFD(t, "tcp", "127.0.0.1:0")
	_, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	want := "127.0.0.1:" + strconv.Itoa(p+1)
	_, _, err := BindPassed([]configs.Socket{{Name: "web", Host: "127.0.0.1", Port: p + 1}}, []Passed{{FD: fd, Name: "web"}})
	var e *Error
	if !errors.As(err, &e) || e.Socket != "web" || !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want one naming socket web, the passed %s and the config's %s", err, addr, want)
	}
	if after := openSockets(t); len(after) != len(before) {
		t.Errorf("open sockets %v after the refusal, %v before", after, before)
	}
}

func TestTakePassed(t *testing.T) {
	me := strconv.Itoa(os.Getpid())
	for _, tc := range []struct {
		name, pid, fds, names string
		want                  []Passed
		err                   string
	}{
		// Not a number: no fd is looked at (see TestTakePassedForeign).
		{name: "another process's", pid: "1", fds: "two", names: "a:b"},
		{name: "unset"},
		{name: "named", pid: me, fds: "2", names: "web:unknown", want: []Passed{{3, "web"}, {4, ""}}},
		{name: "unnamed", pid: me, fds: "1", want: []Passed{{3, ""}}},
		{name: "count mismatch", pid: me, fds: "2", names: "web", err: "names 1 fds"},
		{name: "bad count", pid: me, fds: "x", err: "not a number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("LISTEN_PID", tc.pid)
			t.Setenv("LISTEN_FDS", tc.fds)
			t.Setenv("LISTEN_FDNAMES", tc.names)
			got, foreign, err := TakePassed(os.Getpid())
			if (foreign != nil) != (tc.pid == "1") || foreign != nil && (foreign.ListenPID != "1" || len(foreign.Closed) != 0) {
				t.Errorf("foreign = %+v, want it only for LISTEN_PID=1, with nothing closed", foreign)
			}
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
			} else if err != nil || len(got) != len(tc.want) || (len(got) > 0 && !equalPassed(got, tc.want)) {
				t.Fatalf("TakePassed = %v, %v; want %v", got, err, tc.want)
			}
			for _, k := range []string{"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"} {
				if v, ok := os.LookupEnv(k); ok {
					t.Errorf("%s=%q left in the environment: a worker or an upgraded image would take it", k, v)
				}
			}
		})
	}
}

func equalPassed(a, b []Passed) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// After an upgrade the new image still leaves a passed unix socket's
// file to the service manager.
func TestAdoptKeepsPassedUnixFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "u.sock")
	fd, _ := passedFD(t, "unix", path)
	spec, err := normalize(configs.Socket{Name: "u", Path: path})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Adopt([]Inherited{{Spec: spec, FD: fd, Passed: true}})
	if err != nil {
		t.Fatal(err)
	}
	if l := mustGet(t, s, "u"); !l.Passed() {
		t.Error("the adopted socket lost its passed mark")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); err != nil {
		t.Errorf("the upgraded image removed the service manager's socket file: %v", err)
	}
}

// TestBindPassedLeavesOtherFilesOpen: a LISTEN_FDS that counts more fds
// than the service manager passed counts fds of poold's own, and those
// were closed as passed sockets nobody took (sd_listen_fds(3) never
// closes anything). An fd that is not a socket is now left alone.
func TestBindPassedLeavesOtherFilesOpen(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "own")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fd := int(f.Fd())
	var before unix.Stat_t
	if err := unix.Fstat(fd, &before); err != nil {
		t.Fatal(err)
	}
	s, unused, err := BindPassed([]configs.Socket{tcpSpec("web")}, []Passed{{FD: fd}})
	if err != nil {
		t.Fatalf("BindPassed: %v", err)
	}
	defer s.Close()
	if len(unused) != 1 {
		t.Errorf("unused = %v, want fd %d reported", unused, fd)
	}
	// By its inode: a socket bound after the close may take the number.
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Ino != before.Ino {
		t.Errorf("fd %d, a file of poold's own that LISTEN_FDS counted, was closed (%v; inode %d, was %d)", fd, err, st.Ino, before.Ino)
	}
}

// TestReloadLeavesAPassedSocketsFileAlone: the mode and owner of a unix
// socket systemd passed are systemd's (SocketMode=, SocketUser=), as the
// README says and as poold's start leaves them; a reload changing the
// config's mode chmodded whatever socket file was at the path, even one
// another user had put there in place of systemd's (r49b review).
func TestReloadLeavesAPassedSocketsFileAlone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "u.sock")
	fd, _ := passedFD(t, "unix", path)
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	spec := configs.Socket{Name: "u", Path: path}
	s, _, err := BindPassed([]configs.Socket{spec}, []Passed{{FD: fd, Name: "u"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	spec.Mode = 0o600
	if _, err := s.Apply([]configs.Socket{spec}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(path); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("the passed socket's file after a reload changing mode: %v, %v; want systemd's 0644", fi.Mode(), err)
	}
}

// TestReloadLeavesAPassedSocketsBacklog: a passed socket's backlog is
// systemd's (Backlog=) too; a reload changing the config's backlog set it
// (r49c review).
func TestReloadLeavesAPassedSocketsBacklog(t *testing.T) {
	fd, addr := passedFD(t, "tcp", "127.0.0.1:0")
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	spec := configs.Socket{Name: "web", Host: "127.0.0.1", Port: p}
	s, _, err := BindPassed([]configs.Socket{spec}, []Passed{{FD: fd, Name: "web"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	before := tcpBacklog(t, mustGet(t, s, "web"))
	spec.Backlog = 7
	if _, err := s.Apply([]configs.Socket{spec}); err != nil {
		t.Fatal(err)
	}
	if got := tcpBacklog(t, mustGet(t, s, "web")); got != before {
		t.Errorf("the passed socket's backlog after a reload changing it: %d, want systemd's %d", got, before)
	}
}

// TestPassedOnNamesTheClash: the start error of an endpoint of poold's
// own names a passed socket on its address; an address written
// localhost:PORT, *:PORT or :PORT found none and the error blamed
// another program (r49b review).
func TestPassedOnNamesTheClash(t *testing.T) {
	fd, addr := passedFD(t, "tcp", "127.0.0.1:0")
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	passed := []Passed{{FD: fd, Name: "metrics"}}
	for at, clash := range map[string]bool{
		"127.0.0.1:" + port: true, "localhost:" + port: true, "*:" + port: true, ":" + port: true,
		"0.0.0.0:" + port: true, "127.0.0.2:" + port: false, "127.0.0.1:1": false, "nonsense": false,
	} {
		if got := PassedOn(passed, "tcp", at); (got != "") != clash || clash && !strings.Contains(got, `"metrics"`) {
			t.Errorf("PassedOn(%s) = %q, want a clash %v naming the passed socket", at, got, clash)
		}
	}
}

// TestAdoptTakesTheFileTheOldImageBound: the new image of an upgrade took
// whatever socket file was at a unix socket's path as the one poold bound.
// Whoever may write the directory could put a socket of their own there
// during the upgrade: the new image would chmod it on a reload that
// changed mode, and remove it on close. The old image now hands over the
// file it bound, and the new one acts on that file only.
func TestAdoptTakesTheFileTheOldImageBound(t *testing.T) {
	sp := unixSpec(t, "u")
	sp.Mode = 0o600
	s := mustBind(t, sp)
	in := s.Handover()
	dup, err := unix.Dup(in[0].FD)
	if err != nil {
		t.Fatal(err)
	}
	in[0].FD = dup
	// Someone else's socket at the path, put there during the upgrade.
	path := mustGet(t, s, "u").Spec.Path
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	theirs, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer theirs.Close()
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}

	// As in the upgrade's state, through JSON.
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var handed []Inherited
	if err := json.Unmarshal(b, &handed); err != nil {
		t.Fatal(err)
	}
	up, err := Adopt(handed)
	if err != nil {
		t.Fatal(err)
	}
	wider := mustGet(t, up, "u").Spec
	wider.Mode = 0o666
	if _, err := up.Apply([]configs.Socket{wider}); !errors.Is(err, errNotOurSocket) {
		t.Errorf("a reload widening the mode: %v, want it refused as %q", err, errNotOurSocket)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the other socket's file: %v, mode %v; want it left at 0600", err, fi.Mode().Perm())
	}
	if err := up.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); err != nil {
		t.Errorf("the new image removed a socket file it never bound: %v", err)
	}
}

// r56 systemd review, finding 4: LISTEN_FDS meant for another process (a
// wrapper that forks poold) was ignored without a word, and poold held
// the listening socket for good: its clients waited unanswered, and a
// config on that address failed, blamed on one of poold's endpoints.
// TakePassed now says so (Foreign) and closes the listening sockets
// among those fds, and only those.
func TestTakePassedForeign(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f, err := ln.(*net.TCPListener).File()
	ln.Close()
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	// The listener at first, a pipe (no socket) after it: fds far above
	// those of the test binary, which the closes must not hit.
	const first = 900
	for fd, from := range map[int]*os.File{first: f, first + 1: r} {
		if err := unix.Dup2(int(from.Fd()), fd); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	defer unix.Close(first + 1)
	t.Setenv("LISTEN_PID", "1")
	t.Setenv("LISTEN_FDS", "2")
	t.Setenv("LISTEN_FDNAMES", "web:other")
	got, foreign, err := takePassed(os.Getpid(), first)
	if err != nil || got != nil {
		t.Fatalf("takePassed = %v, %v; want nothing taken", got, err)
	}
	addr := ln.Addr().String()
	if foreign == nil || foreign.ListenPID != "1" || foreign.ListenFDs != "2" || len(foreign.Closed) != 1 || !strings.Contains(foreign.Closed[0], addr) {
		t.Fatalf("foreign = %+v, want LISTEN_PID 1 and the listener on %s closed", foreign, addr)
	}
	if _, err := unix.FcntlInt(uintptr(first+1), unix.F_GETFD, 0); err != nil {
		t.Errorf("the pipe's fd was closed too: %v", err)
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Errorf("%s still takes connections: the foreign listener was left open", addr)
	}
}
