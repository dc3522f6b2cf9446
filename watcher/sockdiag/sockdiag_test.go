package sockdiag

import (
	"encoding/binary"
	"errors"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// inodeOf is the socket inode of c's fd.
func inodeOf(t *testing.T, c syscall.Conn) uint64 {
	t.Helper()
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	var serr error
	if err := raw.Control(func(fd uintptr) { serr = unix.Fstat(int(fd), &st) }); err != nil || serr != nil {
		t.Fatal(err, serr)
	}
	return st.Ino
}

// TestInetDumpFindsTheSockets: a loopback listener shows in the dump of
// listeners, and a connection it accepted in the dump of its port's held
// sockets, each by its inode, with its address and port.
func TestInetDumpFindsTheSockets(t *testing.T) {
	ln, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	client, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.AcceptTCP()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	loopback := [16]byte{127, 0, 0, 1}
	for _, tc := range []struct {
		name   string
		states uint32
		sport  int
		want   uint64
	}{
		{"listener", TCPFListen, 0, inodeOf(t, ln)},
		{"accepted", TCPFEstablished, port, inodeOf(t, server)},
	} {
		var got []InetSock
		if err := InetDump(unix.AF_INET, tc.states, tc.sport, func(s InetSock) { got = append(got, s) }); err != nil {
			t.Fatalf("%s: InetDump: %v", tc.name, err)
		}
		found := false
		for _, s := range got {
			if s.Inode == tc.want {
				found = s.Port == port && s.Addr == loopback && s.Family == unix.AF_INET
			}
		}
		if !found {
			t.Errorf("%s: no socket of inode %d on 127.0.0.1:%d in %d dumped", tc.name, tc.want, port, len(got))
		}
	}
}

// message is one netlink message of type typ with flags and body.
func message(typ, flags uint16, body []byte) []byte {
	le := binary.LittleEndian
	b := make([]byte, unix.SizeofNlMsghdr, unix.SizeofNlMsghdr+len(body)+3)
	le.PutUint32(b[0:], uint32(unix.SizeofNlMsghdr+len(body)))
	le.PutUint16(b[4:], typ)
	le.PutUint16(b[6:], flags)
	b = append(b, body...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// errnoBody is an error payload: the negated errno, then the request.
func errnoBody(e unix.Errno) []byte {
	return binary.LittleEndian.AppendUint32(nil, uint32(-int32(e)))
}

// TestParseInetDump: sockets are read until NLMSG_DONE; an error reply,
// a dump the kernel ended with an error, an interrupted dump and a bad
// length are errors, never a short list taken for the whole.
func TestParseInetDump(t *testing.T) {
	sock := make([]byte, sizeofInetMsg)
	sock[0] = unix.AF_INET
	binary.BigEndian.PutUint16(sock[4:], 8080)
	copy(sock[8:], []byte{127, 0, 0, 1, 9, 9, 9, 9})
	binary.LittleEndian.PutUint32(sock[68:], 4242)
	one := message(unix.SOCK_DIAG_BY_FAMILY, unix.NLM_F_MULTI, sock)
	for _, tc := range []struct {
		name  string
		reply []byte
		done  bool
		err   string
	}{
		{"a socket, more to come", one, false, ""},
		{"a socket, done", append(one, message(unix.NLMSG_DONE, unix.NLM_F_MULTI, make([]byte, 4))...), true, ""},
		{"error reply", message(unix.NLMSG_ERROR, 0, errnoBody(unix.EPERM)), false, "operation not permitted"},
		{"dump ended by an error", append(one, message(unix.NLMSG_DONE, unix.NLM_F_MULTI, errnoBody(unix.ENOBUFS))...), false, "no buffer space"},
		{"interrupted", message(unix.SOCK_DIAG_BY_FAMILY, unix.NLM_F_MULTI|unix.NLM_F_DUMP_INTR, sock), false, "NLM_F_DUMP_INTR"},
		{"bad length", one[:unix.SizeofNlMsghdr+10], false, "bad length"},
	} {
		var got []InetSock
		done, err := parseInetDump(tc.reply, func(s InetSock) { got = append(got, s) })
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want one saying %q", tc.name, err, tc.err)
			}
		case err != nil || done != tc.done:
			t.Errorf("%s: done %v, error %v; want done %v", tc.name, done, err, tc.done)
		case len(got) != 1 || got[0] != (InetSock{Family: unix.AF_INET, Addr: [16]byte{127, 0, 0, 1}, Port: 8080, Inode: 4242}):
			t.Errorf("%s: sockets %+v", tc.name, got)
		}
	}
	var errno unix.Errno
	if err := ErrorReply(errnoBody(unix.EPERM)); !errors.As(err, &errno) || errno != unix.EPERM || !errors.Is(err, os.ErrPermission) {
		t.Errorf("ErrorReply(EPERM) = %v", err)
	}
}
