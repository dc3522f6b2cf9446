package sockets

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/poold/poold/configs"
)

// dualPort is a port free on 0.0.0.0 and :: (a dual-stack listener got it
// and closed it), for configs that name one port twice.
func dualPort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// dialAccept connects to host:port and accepts that connection on fd.
func dialAccept(t testing.TB, host string, port, fd int) {
	t.Helper()
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer c.Close()
	acceptOn(t, fd)
}

func v6onlyOf(t testing.TB, l *Listener) int {
	t.Helper()
	v, err := unix.GetsockoptInt(l.FD(), unix.IPPROTO_IPV6, unix.IPV6_V6ONLY)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestWildcard6IsDualStack (r59b net M1): a socket on "::" took IPv6
// only, and 127.0.0.1 was refused, while the README, Go, systemd and
// Circus make "::" every address. It now answers on 127.0.0.1 and ::1.
func TestWildcard6IsDualStack(t *testing.T) {
	if !hasIPv6Loopback() {
		t.Fatal("this machine has no ::1 (IPv6 loopback)")
	}
	s := mustBind(t, configs.Socket{Name: "any", Host: "::"})
	l := mustGet(t, s, "any")
	if v := v6onlyOf(t, l); v != 0 {
		t.Errorf("IPV6_V6ONLY = %d, want 0 (dual-stack)", v)
	}
	dialAccept(t, "127.0.0.1", l.Port(), l.FD())
	dialAccept(t, "::1", l.Port(), l.FD())
}

// TestWildcard6BesideIPv4: 0.0.0.0 and :: at one port both bind (the
// "::" one IPv6 only), each answering its own family; bind_ipv6_only =
// "ipv6-only" makes a lone "::" IPv6 only.
func TestWildcard6BesideIPv4(t *testing.T) {
	port := dualPort(t)
	s := mustBind(t,
		configs.Socket{Name: "v6", Host: "::", Port: port},
		configs.Socket{Name: "v4", Host: "0.0.0.0", Port: port})
	v4, v6 := mustGet(t, s, "v4"), mustGet(t, s, "v6")
	if v := v6onlyOf(t, v6); v != 1 {
		t.Errorf("IPV6_V6ONLY = %d beside 0.0.0.0, want 1", v)
	}
	dialAccept(t, "127.0.0.1", port, v4.FD())
	dialAccept(t, "::1", port, v6.FD())

	only := mustBind(t, configs.Socket{Name: "only", Host: "::", BindIPv6Only: configs.BindIPv6Only})
	l := mustGet(t, only, "only")
	if v := v6onlyOf(t, l); v != 1 {
		t.Errorf(`IPV6_V6ONLY = %d with bind_ipv6_only = "ipv6-only", want 1`, v)
	}
	if c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(l.Port())), 10*time.Second); err == nil {
		c.Close()
		t.Error("127.0.0.1 reached an IPv6-only socket")
	}
}

// TestWildcard6Reload: the key written for what the socket already is
// keeps it (same fd); asking the other way rebinds, which poold's own
// socket on the port refuses, saying what to do.
func TestWildcard6Reload(t *testing.T) {
	port := dualPort(t)
	sp := configs.Socket{Name: "any", Host: "::", Port: port}
	s := mustBind(t, sp)
	before := mustGet(t, s, "any")
	sp.BindIPv6Only = configs.BindBoth
	if _, err := s.Apply([]configs.Socket{sp}); err != nil {
		t.Fatal(err)
	}
	if l := mustGet(t, s, "any"); l.FD() != before.FD() {
		t.Errorf(`bind_ipv6_only = "both" on a dual-stack socket rebound it (fd %d, was %d)`, l.FD(), before.FD())
	}
	sp.BindIPv6Only = configs.BindIPv6Only
	_, err := s.Apply([]configs.Socket{sp})
	wantErr(t, err, `poold's socket "any" on this port was bound dual-stack (IPv4 too)`, `the config wants it IPv6 only (bind_ipv6_only = "ipv6-only")`, `restart poold to apply it, or set bind_ipv6_only = "both" to keep the socket as it is`)
	if l := mustGet(t, s, "any"); l.FD() != before.FD() {
		t.Error("a refused reload changed the socket")
	}
	// An IPv4 socket added at its port: the same refusal.
	sp.BindIPv6Only = ""
	_, err = s.Apply([]configs.Socket{sp, {Name: "v4", Host: "0.0.0.0", Port: port}})
	wantErr(t, err, `the config wants it IPv6 only (another socket of the config binds IPv4 at this port), which needs the port free: restart poold to apply it, or give the IPv4 socket another port`)
}

// TestWildcard6InheritedKeepsItsFamily: an upgrade from a build that
// bound "::" IPv6 only (and handed over no V6Only) keeps that socket
// across the reloads that follow while bind_ipv6_only is unset, rather
// than refusing each of them for a rebind on its own port.
func TestWildcard6InheritedKeepsItsFamily(t *testing.T) {
	sp := configs.Socket{Name: "any", Host: "::", BindIPv6Only: configs.BindIPv6Only}
	old, err := Bind([]configs.Socket{sp})
	if err != nil {
		t.Fatal(err)
	}
	l := mustGet(t, old, "any")
	fd, err := unix.Dup(l.FD())
	if err != nil {
		t.Fatal(err)
	}
	old.Close()
	norm, err := normalize(configs.Socket{Name: "any", Host: "::", Port: l.Port()})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Adopt([]Inherited{{Spec: norm, FD: fd, FileKnown: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Apply([]configs.Socket{norm}); err != nil {
		t.Fatalf("a reload after the upgrade: %v", err)
	}
	got := mustGet(t, s, "any")
	if got.FD() != fd || v6onlyOf(t, got) != 1 {
		t.Errorf("fd %d (v6only %d), want the inherited fd %d kept as it was", got.FD(), v6onlyOf(t, got), fd)
	}
	if h := s.Handover(); len(h) != 1 || h[0].V6Only != nil {
		t.Errorf("Handover = %+v, want V6Only nil (still the older build's socket)", h)
	}
}

// TestWildcard6BesideAnotherProgramsIPv4 (r59 merge review M2): "::" was
// IPv6 only, so it shared its port with another program on 0.0.0.0
// (nginx); bound dual-stack now, it fails there at poold's next restart,
// and the error said only "stop that process or choose another port".
// It now names the key that gives the old binding back, and only where
// that key is a way out: not beside an IPv6 listener.
func TestWildcard6BesideAnotherProgramsIPv4(t *testing.T) {
	if !hasIPv6Loopback() {
		t.Fatal("this machine has no ::1 (IPv6 loopback)")
	}
	const key = `or set bind_ipv6_only = "ipv6-only" on this socket to leave IPv4 at this port to it`
	pid, addr := holdAddr(t, "0.0.0.0:0")
	port := int(netip.MustParseAddrPort(addr).Port())
	sp := configs.Socket{Name: "any", Host: "::", Port: port}
	_, err := Bind([]configs.Socket{sp})
	wantErr(t, err, fmt.Sprintf("sockets: any: bind [::]:%d: address already in use (pid %d (%s) holds it; stop that process or choose another port, %s)", port, pid, filepath.Base(os.Args[0]), key))
	sp.BindIPv6Only = configs.BindIPv6Only
	mustBind(t, sp) // the way out works

	_, addr = holdAddr(t, "[::1]:0")
	sp = configs.Socket{Name: "any", Host: "::", Port: int(netip.MustParseAddrPort(addr).Port())}
	_, err = Bind([]configs.Socket{sp})
	wantErr(t, err, "stop that process or choose another port")
	if strings.Contains(err.Error(), "bind_ipv6_only") {
		t.Errorf("beside an IPv6 listener, where IPv6 only would not help, the error names bind_ipv6_only: %v", err)
	}
}
