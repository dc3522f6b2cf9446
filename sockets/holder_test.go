package sockets

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/proctest"
)

// helperHold is "another process" holding an address: it listens on
// $SOCKETS_TEST_HOLD (tcp "127.0.0.1:0", "[::1]:0" or a unix path), prints the address, and
// holds it until its stdin closes.
func helperHold() int {
	addr := os.Getenv("SOCKETS_TEST_HOLD")
	network := "tcp4"
	switch {
	case strings.HasPrefix(addr, "/") || strings.HasPrefix(addr, "@"):
		network = "unix"
	case strings.HasPrefix(addr, "["):
		network = "tcp6"
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 2
	}
	fmt.Println(ln.Addr().String())
	_, _ = io.Copy(io.Discard, os.Stdin)
	ln.Close()
	return 0
}

// holdAddr starts a helper process holding addr and returns its pid and
// the address it listens on; the helper ends with the test.
func holdAddr(t testing.TB, addr string) (pid int, bound string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // hang bound
	cmd := exec.CommandContext(ctx, os.Args[0])
	cmd.Env = []string{helperEnv + "=hold", "SOCKETS_TEST_HOLD=" + addr}
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("holder helper: %v", err)
		}
		cancel()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("holder helper said nothing: %v", err)
	}
	return cmd.Process.Pid, strings.TrimSpace(line)
}

// TestUnixInUseNamesTheHolder: the same for a unix socket path another
// process accepts connections on.
func TestUnixInUseNamesTheHolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "api.sock")
	pid, _ := holdAddr(t, path)
	_, err := Bind([]configs.Socket{{Name: "api", Path: path, ReplaceStale: true}})
	want := fmt.Sprintf("sockets: api: bind %s: in use by a running process (pid %d (%s) holds it; stop that process or choose another path)", path, pid, filepath.Base(os.Args[0]))
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
	if !errors.Is(err, ErrInUse) {
		t.Errorf("errors.Is(err, ErrInUse) = false for %v", err)
	}
}

// TestAbstractInUseNamesNoPath (r59b net L2): an abstract name another
// process holds was said to be "a socket created at this path
// meanwhile"; it has no path, and nothing was created meanwhile.
func TestAbstractInUseNamesNoPath(t *testing.T) {
	name := fmt.Sprintf("@poold-test-abstract-%d", os.Getpid())
	pid, _ := holdAddr(t, name)
	_, err := Bind([]configs.Socket{{Name: "api", Path: name}})
	want := fmt.Sprintf("sockets: api: bind %s: address already in use (pid %d (%s) holds it; stop that process or choose another name)", name, pid, filepath.Base(os.Args[0]))
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
}

// TestAddressInUseByPooldItself: a port poold holds outside its Set (one
// of its endpoints) is not "another process" to stop.
func TestAddressInUseByPooldItself(t *testing.T) {
	ln := foreignListener(t, "tcp4", "127.0.0.1:0") // this process plays poold
	sp := tcpSpec("web")
	sp.Port = ln.Addr().(*net.TCPAddr).Port
	_, err := Bind([]configs.Socket{sp})
	wantErr(t, err, fmt.Sprintf("sockets: web: bind 127.0.0.1:%d: address already in use (poold itself (pid %d) holds it, outside its sockets: one of its endpoints", sp.Port, os.Getpid()), "give the socket or that endpoint another address")
}

func TestInUseHint(t *testing.T) {
	other := os.Getpid() + 1
	cmds := map[int]string{other: "nginx: master process", other + 1: "nginx: worker", other + 2: "nginx: worker", other + 3: "nginx: worker"}
	const find, todo = "ss -ltnp 'sport = :80'", "stop that process or choose another port"
	for _, tc := range []struct {
		name string
		h    holders
		want string
	}{
		{"nobody found", holders{}, "another process holds it; " + todo},
		{"hidden from poold's user", holders{hidden: true}, "another process holds it, one poold's user may not inspect (as root, " + find + " names it); " + todo},
		{"found despite hidden ones", holders{pids: []int{other}, cmds: cmds, hidden: true}, fmt.Sprintf("pid %d (nginx: master process) holds it; %s", other, todo)},
		// Several holders: "stop that process" named nobody. The one
		// that started the others is the one to stop (docs1 F6).
		{"several", holders{pids: []int{other, other + 1}, cmds: cmds}, fmt.Sprintf("pid %d (nginx: master process), pid %d (nginx: worker) hold it; stop those processes or choose another port", other, other+1)},
		{"a server and its workers", holders{pids: []int{other, other + 1, other + 2}, cmds: cmds, ppids: map[int]int{other: 1, other + 1: other, other + 2: other}},
			fmt.Sprintf("pid %d (nginx: master process), pid %d (nginx: worker), pid %d (nginx: worker) hold it; stop pid %d, which started the others, or choose another port", other, other+1, other+2, other)},
		{"more than three", holders{pids: []int{other, other + 1, other + 2, other + 3}, cmds: cmds, ppids: map[int]int{other: 1, other + 1: other, other + 2: other, other + 3: other}},
			fmt.Sprintf("pid %d (nginx: master process), pid %d (nginx: worker), pid %d (nginx: worker) and 1 more processes hold it; stop pid %d, which started the others, or choose another port", other, other+1, other+2, other)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := inUseHint(tc.h, find, todo); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestClashes(t *testing.T) {
	for _, tc := range []struct {
		want, held string
		clash      bool
	}{
		{"127.0.0.1", "127.0.0.1", true},
		{"127.0.0.1", "0.0.0.0", true},
		{"0.0.0.0", "127.0.0.1", true},
		{"127.0.0.1", "127.0.0.2", false},
		{"127.0.0.1", "::", true}, // a dual-stack wildcard
		{"127.0.0.1", "::1", false},
		{"::1", "0.0.0.0", false}, // an IPv6 address other than :: is IPv6 only
		{"::", "127.0.0.1", true}, // :: may be dual-stack (bind_ipv6_only)
		{"::1", "::", true},
		{"::", "::1", true},
		{"::1", "::2", false},
	} {
		if got := clashes(netip.MustParseAddr(tc.want), netip.MustParseAddr(tc.held)); got != tc.clash {
			t.Errorf("clashes(%s, %s) = %v, want %v", tc.want, tc.held, got, tc.clash)
		}
	}
}

// TestAddressInUseByAConnection: a port in the kernel's range for
// outgoing connections that a client connection of this machine was
// given (here on another tester's server) made poold refuse to start
// with "another process holds it; stop that process", and no process
// listened there. The hint now says what holds it and what to do.
func TestAddressInUseByAConnection(t *testing.T) {
	ln := foreignListener(t, "tcp4", "127.0.0.1:0")
	c, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	sp := tcpSpec("web")
	sp.Port = c.LocalAddr().(*net.TCPAddr).Port
	_, err = Bind([]configs.Socket{sp})
	wantErr(t, err, fmt.Sprintf("sockets: web: bind 127.0.0.1:%d: address already in use (no process listens there: a connection of this machine has it as its local port", sp.Port),
		"net.ipv4.ip_local_port_range", "choose a port outside that range, or reserve this one with sysctl net.ipv4.ip_local_reserved_ports",
		fmt.Sprintf("ss -tanp 'sport = :%d' names it", sp.Port))
}

// A port a client bound itself, outside the kernel's range for outgoing
// connections, was said to be one the kernel gave out, with advice to
// choose a port outside that range, which it was.
func TestAddressInUseByAClientThatBoundIt(t *testing.T) {
	lo, hi, ok := localPortRange()
	if !ok {
		t.Fatal("cannot read /proc/sys/net/ipv4/ip_local_port_range")
	}
	ln := foreignListener(t, "tcp4", "127.0.0.1:0")
	var c net.Conn
	for port := 20000; port < 30000 && c == nil; port++ {
		if port >= lo && port <= hi {
			continue
		}
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}}
		c, _ = d.Dial("tcp4", ln.Addr().String()) // a port in use: the next
	}
	if c == nil {
		t.Fatal("no port from 20000 to 30000 outside the outgoing range to bind a client to")
	}
	t.Cleanup(func() { _ = c.Close() })
	sp := tcpSpec("web")
	sp.Port = c.LocalAddr().(*net.TCPAddr).Port
	_, err := Bind([]configs.Socket{sp})
	wantErr(t, err, fmt.Sprintf("bind 127.0.0.1:%d: address already in use (no process listens there: a connection of this machine has it as its local port, outside the kernel's range for outgoing connections", sp.Port),
		"choose another port, or end that connection")
	if strings.Contains(err.Error(), "ip_local_port_range") {
		t.Fatalf("error %q names the outgoing range for a port outside it", err)
	}
}

// TestHoldersKnowWhoStartedWhom: a port held by a process and a child
// that inherited the socket (a server and its workers). The lookup
// reads each holder's parent, so the hint names the one to stop.
func TestHoldersKnowWhoStartedWhom(t *testing.T) {
	ln := foreignListener(t, "tcp4", "127.0.0.1:0")
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	child := exec.Command("sleep", "3600")
	child.ExtraFiles = []*os.File{f}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })
	port := ln.Addr().(*net.TCPAddr).Port
	var h holders
	proctest.Eventually(t, "both holders found", func() bool {
		h = tcpHolders(netip.MustParseAddr("127.0.0.1"), port)
		return len(h.pids) == 2
	})
	want := fmt.Sprintf("stop pid %d, which started the others, or choose another port", os.Getpid())
	if got := h.stopWhom("stop that process or choose another port"); got != want {
		t.Errorf("stopWhom = %q, want %q (holders %+v)", got, want, h)
	}
}
