package sockets

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/poold/poold/configs"
)

// helperEnv switches the test binary into a worker (see helper_test.go).
const helperEnv = "POOLD_SOCKETS_TEST_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "serve":
		os.Exit(helperServe())
	case "hold":
		os.Exit(helperHold())
	case "privport", "privport-sysctl":
		os.Exit(helperPrivPort(os.Getenv(helperEnv) == "privport-sysctl"))
	}
	netns, _ := os.Readlink("/proc/self/ns/net")
	goleak.VerifyTestMain(leaderStays{m, netns})
}

// leaderStays fails the run when the process's network namespace (its
// main thread's, which /proc/net shows) changed during the tests: every
// holder lookup after that found nobody (r59 net L8).
type leaderStays struct {
	*testing.M
	netns string
}

func (l leaderStays) Run() int {
	code := l.M.Run()
	if now, _ := os.Readlink("/proc/self/ns/net"); now != l.netns {
		fmt.Fprintf(os.Stderr, "the process's network namespace changed during the tests (%s, was %s): a test unshared it on the main thread; /proc/net no longer shows the sockets of the tests\n", now, l.netns)
		return 1
	}
	return code
}

// tcpSpec is a loopback IPv4 socket on a kernel-chosen port.
func tcpSpec(name string) configs.Socket {
	return configs.Socket{Name: name, Host: "127.0.0.1", ReplaceStale: true}
}

func unixSpec(t testing.TB, name string) configs.Socket {
	t.Helper()
	return configs.Socket{Name: name, Path: filepath.Join(t.TempDir(), name+".sock"), ReplaceStale: true}
}

func mustBind(t testing.TB, specs ...configs.Socket) *Set {
	t.Helper()
	s, err := Bind(specs)
	if err != nil {
		t.Fatalf("Bind: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func mustGet(t testing.TB, s *Set, name string) *Listener {
	t.Helper()
	l, ok := s.Get(name)
	if !ok {
		t.Fatalf("socket %q not in set", name)
	}
	return l
}

// checkServes connects to l's address and accepts that connection on l's
// fd, proving the fd is the socket listening there.
func checkServes(t testing.TB, l *Listener) {
	t.Helper()
	network := "tcp"
	if l.Spec.Family == "unix" {
		network = "unix"
	}
	c, err := net.DialTimeout(network, l.Addr(), 10*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", l.Addr(), err)
	}
	defer c.Close()
	acceptOn(t, l.FD())
}

// acceptOn accepts one queued connection on a listening fd, waiting for it
// with poll (a hang bound, not a timing assumption).
func acceptOn(t testing.TB, fd int) {
	t.Helper()
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(pfd, 10_000)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || n != 1 {
			t.Fatalf("poll fd %d: n=%d err=%v (no connection arrived)", fd, n, err)
		}
		break
	}
	nfd, _, err := unix.Accept4(fd, unix.SOCK_CLOEXEC)
	if err != nil {
		t.Fatalf("accept on fd %d: %v", fd, err)
	}
	unix.Close(nfd)
}

// checkPoolSide checks what poold's side of a socket must be: close-on-exec
// (so it leaks into no process it was not handed to) and blocking.
func checkPoolSide(t testing.TB, l *Listener) {
	t.Helper()
	fdFlags, err := unix.FcntlInt(uintptr(l.FD()), unix.F_GETFD, 0)
	if err != nil {
		t.Fatal(err)
	}
	if fdFlags&unix.FD_CLOEXEC == 0 {
		t.Errorf("socket %s: fd %d lacks FD_CLOEXEC", l.Name, l.FD())
	}
	flFlags, err := unix.FcntlInt(uintptr(l.FD()), unix.F_GETFL, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := flFlags&unix.O_NONBLOCK != 0; got != l.Spec.NonBlocking {
		t.Errorf("socket %s: fd %d non-blocking %t; want %t (blocking = %t)", l.Name, l.FD(), got, l.Spec.NonBlocking, !l.Spec.NonBlocking)
	}
	if got := int(l.File.Fd()); got != l.FD() {
		t.Errorf("File.Fd() = %d, FD() = %d", got, l.FD())
	}
}

// openSockets maps each open socket fd of this process to its inode
// ("socket:[123]"), to see whether a failed Bind left any behind.
func openSockets(t testing.TB) map[string]string {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range ents {
		target, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err == nil && strings.HasPrefix(target, "socket:") {
			out[e.Name()] = target
		}
	}
	return out
}

func inode(t testing.TB, fd int) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// foreignListener is "another process" holding an address.
func foreignListener(t testing.TB, network, addr string) net.Listener {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// hasIPv6Loopback reports whether ::1 can be bound here. A machine without
// it is a property of the machine, not a missing test dependency.
func hasIPv6Loopback() bool {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// tcpBacklog reads a listening tcp socket's accept-queue limit back from
// the kernel through sock_diag (inet_diag_msg.idiag_wqueue holds
// sk_max_ack_backlog for a listener).
func tcpBacklog(t testing.TB, l *Listener) int {
	t.Helper()
	ino := inode(t, l.FD())
	family := byte(unix.AF_INET)
	if strings.HasPrefix(l.Addr(), "[") {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		t.Fatalf("netlink socket: %v", err)
	}
	defer unix.Close(fd)
	const hdrLen, reqLen = unix.SizeofNlMsghdr, 56 // struct inet_diag_req_v2
	req := make([]byte, hdrLen+reqLen)
	ne := binary.NativeEndian
	ne.PutUint32(req[0:], uint32(len(req)))
	ne.PutUint16(req[4:], unix.SOCK_DIAG_BY_FAMILY)
	ne.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	ne.PutUint32(req[8:], 1)
	req[hdrLen+0] = family
	req[hdrLen+1] = unix.IPPROTO_TCP
	ne.PutUint32(req[hdrLen+4:], 1<<10) // states: TCP_LISTEN
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		t.Fatalf("netlink send: %v", err)
	}
	buf := make([]byte, 1<<16)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			t.Fatalf("netlink recv: %v", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			t.Fatalf("netlink parse: %v", err)
		}
		for _, m := range msgs {
			switch m.Header.Type {
			case unix.NLMSG_DONE:
				t.Fatalf("socket %s (inode %d) not in the kernel's listening sockets", l.Name, ino)
			case unix.NLMSG_ERROR:
				t.Fatalf("netlink error reply: %v", m.Data)
			}
			d := m.Data // struct inet_diag_msg
			if len(d) >= 72 && uint64(ne.Uint32(d[68:])) == ino {
				return int(ne.Uint32(d[60:]))
			}
		}
	}
}

func somaxconn(t testing.TB) int {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/net/core/somaxconn")
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func wantErr(t testing.TB, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want an error containing %q, got nil", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q\n  does not contain %q", err, p)
		}
	}
}
