package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/poold/poold/watcher/proctest"
)

// tcpStates names the states of /proc/net/tcp (include/net/tcp_states.h).
var tcpStates = map[string]string{
	"01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1",
	"05": "FIN_WAIT2", "06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT",
	"09": "LAST_ACK", "0A": "LISTEN", "0B": "CLOSING", "0C": "NEW_SYN_RECV",
}

// queued are the states of a connection that may wait in a listen queue,
// where it has no inode until a process accepts it.
var queued = map[string]bool{"01": true, "03": true, "08": true, "0C": true}

// serverEnd says where the server's end of the loopback TCP connection
// from client to server is, for a test that lost a request on it: its
// state and the pid and fd that hold it, or that it waits in a listen
// queue (accepted by no process: it has no inode yet), or that the
// server closed it (a TIME_WAIT: it answered, and the client did not read
// the answer in time), or that there is none. Read it while the server's end still exists (just after the
// client gave up). IPv4 only, as /proc/net/tcp writes it on a
// little-endian host.
func serverEnd(server, client string) string {
	s, err1 := netip.ParseAddrPort(server)
	c, err2 := netip.ParseAddrPort(client)
	if err1 != nil || err2 != nil || !s.Addr().Is4() || !c.Addr().Is4() {
		return fmt.Sprintf("server end of %s -> %s: not looked up (not IPv4)", client, server)
	}
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return fmt.Sprintf("server end of %s -> %s: %v", client, server, err)
	}
	local, remote := procTCPAddr(s), procTCPAddr(c)
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 10 || f[1] != local || f[2] != remote {
			continue
		}
		what := fmt.Sprintf("server end of %s -> %s: %s", client, server, tcpStates[f[3]])
		switch {
		case f[9] != "0":
			return what + ", " + holderOf(f[9])
		case queued[f[3]]:
			return what + ", waiting in the listen queue: no process accepted it"
		}
		return what + ", closed by the process that held it (it answered, or gave up)"
	}
	return fmt.Sprintf("server end of %s -> %s: none (the SYN never made a connection, or it is gone)", client, server)
}

// procTCPAddr writes a as /proc/net/tcp does: the address as a
// little-endian word, then the port, both in hex.
func procTCPAddr(a netip.AddrPort) string {
	ip := a.Addr().As4()
	return fmt.Sprintf("%02X%02X%02X%02X:%04X", ip[3], ip[2], ip[1], ip[0], a.Port())
}

// holderOf names the processes and fds that hold socket inode.
func holderOf(inode string) string {
	target := "socket:[" + inode + "]"
	var held []string
	fds, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	for _, fd := range fds {
		if l, err := os.Readlink(fd); err == nil && l == target {
			parts := strings.Split(fd, "/") // "", proc, PID, fd, FD
			pid, _ := strconv.Atoi(parts[2])
			held = append(held, fmt.Sprintf("pid %d fd %s", pid, parts[4]))
		}
	}
	if len(held) == 0 {
		return "inode " + inode + " held by no process now (closed meanwhile)"
	}
	return "inode " + inode + " held by " + strings.Join(held, ", ")
}

// serverEnd runs only when a prober lost a request: it must then say
// where the server's end is: waiting in the listen queue, held by the
// process that accepted it, closed by that process, or none.
func TestServerEndSaysWhereTheConnectionIs(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	server, client := ln.Addr().String(), c.LocalAddr().String()
	proctest.Eventually(t, "the connection in the listen queue", func() bool {
		return strings.Contains(serverEnd(server, client), "ESTABLISHED, waiting in the listen queue")
	})
	a, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := serverEnd(server, client), fmt.Sprintf("held by pid %d fd ", os.Getpid()); !strings.Contains(got, want) {
		t.Errorf("serverEnd after the accept: %q, want it to say %q", got, want)
	}
	a.Close() // the server closes first, as a worker does after its answer
	c.Close()
	proctest.Eventually(t, "the server end closed", func() bool {
		return strings.Contains(serverEnd(server, client), "TIME_WAIT, closed by the process that held it")
	})
	if got := serverEnd(server, "127.0.0.1:1"); !strings.Contains(got, "none") {
		t.Errorf("serverEnd of no connection: %q, want it to say none", got)
	}
}
