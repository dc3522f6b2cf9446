package handover

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
)

// A worker that blocks in accept(2) only while no connection waits (a
// gunicorn sync worker, a plain Python accept loop) is never seen asleep
// there under load: each time it comes back a connection is queued. That
// it holds a connection it accepted from one of its sockets shows it
// takes connections all the same. sock_diag (diag.go) or, where it
// cannot say, /proc/PID/net/tcp{,6} (the worker's own network namespace)
// lists the sockets with their local address, state and inode: the
// listeners of socks give the addresses, and a socket of the worker's
// that is not listening and has one of those local addresses was
// accepted from them.

// tcpSock is one line of /proc/net/tcp or tcp6.
type tcpSock struct {
	addr, port string // local address and port, as the file writes them (hex)
	listen     bool   // state 0A
	inode      uint64
}

// servesConn reports whether one of conns (the process's sockets other
// than socks) is a connection accepted from a listener of socks: TCP, or
// unix (/proc/PID/net/unix names an accepted socket by its listener's
// path, and the client's end by none).
func servesConn(dir string, socks, conns Inodes) bool {
	if b, err := os.ReadFile(dir + "/net/unix"); err == nil && servesUnix(b, socks, conns) {
		return true
	}
	if ok, err := servesTCPDiag(dir, socks, conns); err == nil {
		return ok
	}
	return servesTCPProc(dir, socks, conns)
}

// servesTCPProc is servesConn's TCP part read from /proc/PID/net/tcp{,6}:
// every TCP socket of the namespace, as text.
func servesTCPProc(dir string, socks, conns Inodes) bool {
	for _, name := range []string{"/net/tcp", "/net/tcp6"} {
		b, err := os.ReadFile(dir + name)
		if err != nil {
			continue
		}
		socksOf := parseTCP(b)
		for _, l := range socksOf {
			if !l.listen || !socks[l.inode] {
				continue
			}
			for _, c := range socksOf {
				if !c.listen && conns[c.inode] && c.port == l.port && (wildcard(l.addr) || c.addr == l.addr) {
					return true
				}
			}
		}
	}
	return false
}

// parseTCP reads the lines of /proc/net/tcp or tcp6:
// "sl local rem st tx:rx tr:when retr uid timeout inode ...".
func parseTCP(b []byte) []tcpSock {
	var out []tcpSock
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Scan() // the header
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 10 {
			continue
		}
		addr, port, ok := strings.Cut(f[1], ":")
		ino, err := strconv.ParseUint(f[9], 10, 64)
		if !ok || err != nil || ino == 0 {
			continue
		}
		out = append(out, tcpSock{addr: addr, port: port, listen: f[3] == "0A", inode: ino})
	}
	return out
}

// wildcard reports whether a listener's address is 0.0.0.0 or ::, which
// accepts on every address of the host.
func wildcard(addr string) bool {
	return strings.Trim(addr, "0") == ""
}

// servesUnix reports whether /proc/net/unix (b: "Num RefCount Protocol
// Flags Type St Inode Path") shows one of conns bound to the path of a
// listener of socks.
func servesUnix(b []byte, socks, conns Inodes) bool {
	type unixSock struct {
		inode uint64
		path  string
	}
	var all []unixSock
	paths := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Scan() // the header
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 8 {
			continue // unnamed: not a listener's, nor accepted from one
		}
		ino, err := strconv.ParseUint(f[6], 10, 64)
		if err != nil {
			continue
		}
		path := strings.Join(f[7:], " ")
		if socks[ino] {
			paths[path] = true
		}
		all = append(all, unixSock{ino, path})
	}
	for _, u := range all {
		if conns[u.inode] && paths[u.path] {
			return true
		}
	}
	return false
}
