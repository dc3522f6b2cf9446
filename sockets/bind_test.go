package sockets

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/proctest"
)

func TestBindTCP4(t *testing.T) {
	s := mustBind(t, tcpSpec("web"))
	l := mustGet(t, s, "web")
	if l.Port() == 0 {
		t.Fatal("port 0 was not resolved to the kernel's port")
	}
	if want := fmt.Sprintf("127.0.0.1:%d", l.Port()); l.Addr() != want {
		t.Errorf("Addr() = %q, want %q", l.Addr(), want)
	}
	if l.Spec.Port != 0 || l.Spec.Backlog != configs.DefaultBacklog || l.Spec.Family != "tcp" {
		t.Errorf("Spec = %+v, want port 0 kept, default backlog, family tcp", l.Spec)
	}
	want := map[string]any{"fd": l.FD(), "name": "web", "backlog": configs.DefaultBacklog, "host": "127.0.0.1", "port": l.Port()}
	if d := cmp.Diff(want, l.Info(l.FD())); d != "" {
		t.Errorf("Info (-want +got):\n%s", d)
	}
	checkPoolSide(t, l)
	checkServes(t, l)
	if v, err := unix.GetsockoptInt(l.FD(), unix.SOL_SOCKET, unix.SO_REUSEADDR); err != nil || v == 0 {
		t.Errorf("SO_REUSEADDR = %d, %v; want set", v, err)
	}
	if v, err := unix.GetsockoptInt(l.FD(), unix.SOL_SOCKET, unix.SO_REUSEPORT); err != nil || v != 0 {
		t.Errorf("SO_REUSEPORT = %d, %v; want unset when not asked", v, err)
	}
}

func TestBindTCP6Loopback(t *testing.T) {
	if !hasIPv6Loopback() {
		t.Skip("this machine has no ::1 (IPv6 loopback), so there is nothing to bind")
	}
	for _, family := range []string{"tcp", "tcp6"} {
		t.Run(family, func(t *testing.T) {
			s := mustBind(t, configs.Socket{Name: "v6", Family: family, Host: "::1"})
			l := mustGet(t, s, "v6")
			if want := fmt.Sprintf("[::1]:%d", l.Port()); l.Addr() != want {
				t.Errorf("Addr() = %q, want %q", l.Addr(), want)
			}
			if got := l.Info(l.FD())["host"]; got != "::1" {
				t.Errorf("Info host = %v, want ::1", got)
			}
			if v, err := unix.GetsockoptInt(l.FD(), unix.IPPROTO_IPV6, unix.IPV6_V6ONLY); err != nil || v != 1 {
				t.Errorf("IPV6_V6ONLY = %d, %v; want 1", v, err)
			}
			checkPoolSide(t, l)
			checkServes(t, l)
		})
	}
}

func TestBindHostName(t *testing.T) {
	s := mustBind(t, configs.Socket{Name: "web", Host: "localhost"})
	l := mustGet(t, s, "web")
	if got := l.Host(); got != "127.0.0.1" {
		t.Errorf("localhost resolved to %s, want 127.0.0.1 (family tcp prefers IPv4)", got)
	}
	checkServes(t, l)
}

func TestBindReusePort(t *testing.T) {
	sp := tcpSpec("a")
	sp.ReusePort = true
	s := mustBind(t, sp)
	a := mustGet(t, s, "a")
	if v, err := unix.GetsockoptInt(a.FD(), unix.SOL_SOCKET, unix.SO_REUSEPORT); err != nil || v != 1 {
		t.Fatalf("SO_REUSEPORT = %d, %v; want 1", v, err)
	}
	// A second reuseport socket can share the port.
	sp2 := sp
	sp2.Name, sp2.Port = "b", a.Port()
	mustBind(t, sp2)
}

func TestBindUnix(t *testing.T) {
	for _, mode := range []os.FileMode{0, 0o600, 0o666} {
		t.Run(fmt.Sprintf("mode %#o", mode), func(t *testing.T) {
			sp := unixSpec(t, "api")
			sp.Mode = mode
			s, err := Bind([]configs.Socket{sp})
			if err != nil {
				t.Fatal(err)
			}
			l := mustGet(t, s, "api")
			want := mode
			if want == 0 {
				want = configs.DefaultSocketMode
			}
			fi, err := os.Lstat(sp.Path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != want {
				t.Errorf("socket file mode = %v, want socket with %v", fi.Mode(), want)
			}
			if l.Addr() != sp.Path || l.Spec.Family != "unix" {
				t.Errorf("Addr() = %q family %q, want %q unix", l.Addr(), l.Spec.Family, sp.Path)
			}
			wantInfo := map[string]any{"fd": l.FD(), "name": "api", "backlog": configs.DefaultBacklog, "path": sp.Path}
			if d := cmp.Diff(wantInfo, l.Info(l.FD())); d != "" {
				t.Errorf("Info (-want +got):\n%s", d)
			}
			checkPoolSide(t, l)
			checkServes(t, l)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Lstat(sp.Path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("after Close the socket file is still there (%v)", err)
			}
		})
	}
}

// staleSocket leaves a socket file at path that nobody listens on.
func staleSocket(t testing.TB, path string) {
	t.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
}

func TestUnixStale(t *testing.T) {
	t.Run("replaced", func(t *testing.T) {
		sp := unixSpec(t, "api")
		staleSocket(t, sp.Path)
		s := mustBind(t, sp)
		checkServes(t, mustGet(t, s, "api"))
	})
	t.Run("kept when replace_stale is off", func(t *testing.T) {
		sp := unixSpec(t, "api")
		sp.ReplaceStale = false
		staleSocket(t, sp.Path)
		_, err := Bind([]configs.Socket{sp})
		wantErr(t, err, "sockets: api: bind "+sp.Path+": a stale socket file exists", "replace_stale = true")
		if !errors.Is(err, ErrStale) {
			t.Errorf("errors.Is(err, ErrStale) = false for %v", err)
		}
		if _, err := os.Lstat(sp.Path); err != nil {
			t.Errorf("stale file was removed although replace_stale is off: %v", err)
		}
	})
}

func TestUnixLiveRefused(t *testing.T) {
	sp := unixSpec(t, "api")
	foreign := foreignListener(t, "unix", sp.Path)
	_, err := Bind([]configs.Socket{sp})
	wantErr(t, err, "sockets: api: bind "+sp.Path+": in use by a running process")
	if !errors.Is(err, ErrInUse) {
		t.Errorf("errors.Is(err, ErrInUse) = false for %v", err)
	}
	// The running process keeps its socket.
	c, err := net.Dial("unix", sp.Path)
	if err != nil {
		t.Fatalf("the live socket no longer answers: %v", err)
	}
	c.Close()
	conn, err := foreign.Accept() // the probe's connection, then ours
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
}

func TestUnixNotSocketRefused(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "dir")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	for path, kind := range map[string]string{file: "a regular file", sub: "a directory"} {
		for _, replace := range []bool{true, false} {
			_, err := Bind([]configs.Socket{{Name: "api", Path: path, ReplaceStale: replace}})
			wantErr(t, err, "sockets: api: bind "+path+": path exists and is not a socket (it is "+kind+"; poold never deletes it")
			if !errors.Is(err, ErrNotSocket) {
				t.Errorf("errors.Is(err, ErrNotSocket) = false for %v", err)
			}
		}
	}
	if b, err := os.ReadFile(file); err != nil || string(b) != "precious" {
		t.Errorf("the file was touched: %q, %v", b, err)
	}
	if fi, err := os.Stat(sub); err != nil || !fi.IsDir() {
		t.Errorf("the directory was touched: %v", err)
	}
}

// TestAddressInUse: a port another process listens on was reported as
// "another process is listening there"; the error now names that
// process, so the user knows what to stop.
func TestAddressInUse(t *testing.T) {
	pid, addr := holdAddr(t, "127.0.0.1:0")
	sp := tcpSpec("web")
	sp.Port = int(netip.MustParseAddrPort(addr).Port())
	_, err := Bind([]configs.Socket{sp})
	want := fmt.Sprintf("sockets: web: bind %s: address already in use (pid %d (%s) holds it; stop that process or choose another port)", addr, pid, filepath.Base(os.Args[0]))
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
	var e *Error
	if !errors.Is(err, syscall.EADDRINUSE) || !errors.As(err, &e) || e.Socket != "web" || e.Addr != addr {
		t.Errorf("error is not a *Error{Socket: web, Addr: ...} wrapping EADDRINUSE: %#v", err)
	}
}

func TestAddressNotOfThisMachine(t *testing.T) {
	// 192.0.2.0/24 is TEST-NET-1: documentation only, never configured.
	_, err := Bind([]configs.Socket{{Name: "web", Host: "192.0.2.1", Port: 8000}})
	wantErr(t, err, "sockets: web: bind 192.0.2.1:8000: cannot assign requested address (192.0.2.1 is not an address of this machine")
	if !errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Errorf("errors.Is(err, EADDRNOTAVAIL) = false for %v", err)
	}
}

func TestAllOrNone(t *testing.T) {
	foreign := foreignListener(t, "tcp4", "127.0.0.1:0")
	before := openSockets(t)
	freeA := proctest.FreePort(t)
	dir := t.TempDir()
	specs := []configs.Socket{
		{Name: "a", Host: "127.0.0.1", Port: freeA},
		{Name: "b", Host: "127.0.0.1", Port: foreign.Addr().(*net.TCPAddr).Port},
		{Name: "c", Host: "192.0.2.1", Port: 8000},
		{Name: "d", Path: filepath.Join(dir, "d.sock")},
		{Name: "e", Path: filepath.Join(dir, "missing", "e.sock")},
	}
	s, err := Bind(specs)
	if s != nil {
		t.Error("Bind returned a Set along with an error")
	}
	wantErr(t, err, "sockets: b: bind", "sockets: c: bind", "sockets: e: bind", "does not exist; create it first")
	for _, ok := range []string{"sockets: a:", "sockets: d:"} {
		if strings.Contains(err.Error(), ok) {
			t.Errorf("error blames a socket that bound fine (%s): %v", ok, err)
		}
	}
	// a's port is free again, d's file is gone, and no socket fd is left.
	ln, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", freeA))
	if err != nil {
		t.Errorf("port of socket a still taken after the failed Bind: %v", err)
	} else {
		ln.Close()
	}
	if _, err := os.Lstat(specs[3].Path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket file of d left behind: %v", err)
	}
	// Only what the Bind added counts: a socket of an earlier test may
	// close meanwhile (a finalizer), as under -count=30.
	for fd, sock := range openSockets(t) {
		if before[fd] != sock {
			t.Errorf("the failed Bind left fd %s open (%s)", fd, sock)
		}
	}
}

func TestBacklog(t *testing.T) {
	max := somaxconn(t)
	for _, backlog := range []int{0, 1, 17} {
		sp := tcpSpec("web")
		sp.Backlog = backlog
		s := mustBind(t, sp)
		want := backlog
		if want == 0 {
			want = configs.DefaultBacklog
		}
		want = min(want, max) // the kernel caps listen() at somaxconn
		if got := tcpBacklog(t, mustGet(t, s, "web")); got != want {
			t.Errorf("backlog %d: kernel reports %d, want %d", backlog, got, want)
		}
	}
}

func TestSpecErrors(t *testing.T) {
	long := "/tmp/" + strings.Repeat("x", 120)
	cases := []struct {
		name  string
		specs []configs.Socket
		want  []string
	}{
		{"family", []configs.Socket{{Name: "a", Family: "udp"}}, []string{`sockets: a: invalid socket spec: family "udp" is not supported (use tcp, tcp4, tcp6 or unix)`}},
		{"unix without path", []configs.Socket{{Name: "a", Family: "unix"}}, []string{"sockets: a: invalid socket spec: family unix needs a path"}},
		{"long path", []configs.Socket{{Name: "a", Path: long}}, []string{"is 125 bytes long, the limit is 107"}},
		{"reuseport on unix", []configs.Socket{{Name: "a", Path: "/tmp/x.sock", ReusePort: true}}, []string{"reuseport applies to tcp sockets only"}},
		{"tcp with path", []configs.Socket{{Name: "a", Family: "tcp", Path: "/tmp/x.sock"}}, []string{"is for unix sockets, but family is tcp"}},
		{"port", []configs.Socket{{Name: "a", Port: 70000}}, []string{"port must be 0..65535, got 70000"}},
		{"backlog", []configs.Socket{{Name: "a", Backlog: -1}}, []string{"backlog must be > 0, got -1"}},
		{"no name", []configs.Socket{{}}, []string{"a socket needs a name"}},
		{"colon", []configs.Socket{{Name: "a:b"}}, []string{"sockets: a:b: invalid socket spec: name may hold only printable ASCII"}},
		{"duplicate name", []configs.Socket{{Name: "a"}, {Name: "a"}}, []string{"sockets: a: invalid socket spec: defined twice"}},
		{"duplicate path", []configs.Socket{{Name: "a", Path: "/tmp/x.sock"}, {Name: "b", Path: "/tmp/x.sock"}}, []string{`sockets: b: invalid socket spec: path /tmp/x.sock is also the path of socket "a"`}},
		{"tcp4 with v6", []configs.Socket{{Name: "a", Family: "tcp4", Host: "::1"}}, []string{"sockets: a: resolve ::1: an IPv6 address cannot be bound as tcp4"}},
		{"tcp6 with v4", []configs.Socket{{Name: "a", Family: "tcp6", Host: "127.0.0.1"}}, []string{"sockets: a: resolve 127.0.0.1: an IPv4 address cannot be bound as tcp6"}},
		{"every error at once", []configs.Socket{{Name: "a", Family: "udp"}, {Name: "b", Port: -1}}, []string{"sockets: a:", "sockets: b:"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := Bind(c.specs)
			if s != nil {
				s.Close()
			}
			wantErr(t, err, c.want...)
		})
	}
}

func TestCloseIdempotentAndFinal(t *testing.T) {
	s, err := Bind([]configs.Socket{tcpSpec("a")})
	if err != nil {
		t.Fatal(err)
	}
	l := mustGet(t, s, "a")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := l.File.Stat(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("file still open after Close: %v", err)
	}
	if _, err := s.Apply([]configs.Socket{tcpSpec("a")}); !errors.Is(err, ErrClosed) {
		t.Errorf("Apply after Close: %v, want ErrClosed", err)
	}
	if len(s.List()) != 0 {
		t.Error("List not empty after Close")
	}
}

func TestListSortedByFD(t *testing.T) {
	s := mustBind(t, tcpSpec("z"), tcpSpec("a"), unixSpec(t, "m"))
	ls := s.List()
	if len(ls) != 3 {
		t.Fatalf("List has %d sockets, want 3", len(ls))
	}
	for i := 1; i < len(ls); i++ {
		if ls[i-1].FD() >= ls[i].FD() {
			t.Errorf("List not sorted by fd: %d before %d", ls[i-1].FD(), ls[i].FD())
		}
	}
}

func BenchmarkBindClose(b *testing.B) {
	specs := []configs.Socket{tcpSpec("web")}
	for b.Loop() {
		s, err := Bind(specs)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// A worker that adopts the socket as an opaque fd (uvicorn --fd does
// socket.fromfd(fd, AF_UNIX)) accepts connections without setting
// TCP_NODELAY on them; the kernel copies it from the listener, so poold
// sets it there. The accept below is raw, as such a worker's is: Go's
// net package would set the option itself and prove nothing.
func TestAcceptedConnectionsInheritNoDelay(t *testing.T) {
	s := mustBind(t, tcpSpec("web"))
	l := mustGet(t, s, "web")
	c, err := net.Dial("tcp", l.Addr())
	if err != nil {
		t.Fatalf("dial %s: %v", l.Addr(), err)
	}
	defer c.Close()
	nfd, _, err := unix.Accept4(l.FD(), unix.SOCK_CLOEXEC)
	if err != nil {
		t.Fatalf("accept on %s: %v", l.Addr(), err)
	}
	defer unix.Close(nfd)
	if v, err := unix.GetsockoptInt(nfd, unix.IPPROTO_TCP, unix.TCP_NODELAY); err != nil || v == 0 {
		t.Errorf("TCP_NODELAY on an accepted connection = %d, %v; want set (Nagle delays keep-alive replies ~40 ms)", v, err)
	}
}

// TestUnixPathHints: bind says ENOENT for a directory that exists but
// takes no files (/proc) as for a missing one, and ENOTDIR under a
// regular file; the hint tells them apart (it used to say "/proc does not
// exist").
func TestUnixPathHints(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, want string }{
		{"/proc/poold-test-x.sock", "directory /proc takes no new files (a virtual file system such as /proc or /sys); choose a path on an ordinary file system"},
		{filepath.Join(file, "x.sock"), file + " is not a directory; choose a path in a directory"},
		{filepath.Join(t.TempDir(), "missing", "x.sock"), "missing does not exist; create it first"},
	} {
		s, err := Bind([]configs.Socket{{Name: "u", Family: "unix", Path: tc.path, Mode: 0o600}})
		if err == nil {
			s.Close()
		}
		wantErr(t, err, "sockets: u: bind "+tc.path, tc.want)
	}
}

// An abstract unix socket ("@name", as Go's net and zmq spell it) has no
// file: Bind used to bind it, then fail to stat a file "@name" (blaming
// the directory "."). It binds, serves, takes a new backlog and mode on
// reload, and frees its name on close.
func TestBindAbstractUnix(t *testing.T) {
	sp := configs.Socket{Name: "a", Path: "@poold-test-" + strconv.Itoa(os.Getpid()) + "-" + t.Name()}
	s := mustBind(t, sp)
	l := mustGet(t, s, "a")
	checkPoolSide(t, l)
	checkServes(t, l)
	if _, err := os.Lstat(sp.Path); err == nil {
		t.Errorf("a file %s was created in the working directory", sp.Path)
	}
	changed := sp
	changed.Backlog, changed.Mode = 64, 0o600
	if _, err := s.Apply([]configs.Socket{changed}); err != nil {
		t.Fatalf("reload with a new backlog and mode: %v", err)
	}
	if got := mustGet(t, s, "a"); got.FD() != l.FD() {
		t.Errorf("the reload bound the socket again (fd %d, was %d)", got.FD(), l.FD())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	again := mustBind(t, sp) // the name is free again
	checkServes(t, mustGet(t, again, "a"))
}
