package handover

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// A worker that never waits on the sockets it inherited but listens on a
// TCP socket of its own took none of them: clients of poold's socket wait
// in its backlog until they give up. Most often a wrapper ran the server
// without exec (`sh -c "cd app && gunicorn app:app"`, a venv activation
// script): LISTEN_PID names the wrapper, so sd_listen_fds, go-systemd's
// activation and gunicorn in the server ignore LISTEN_FDS, and gunicorn
// binds its default 127.0.0.1:8000 instead. Or the program binds an
// address of its own configuration and never looks at fd 3.

// misdirected reports whether the process at dir (pid) listens on a TCP
// socket among others (its sockets other than the inherited ones) while
// its environment holds a LISTEN_PID that is not its own: sd_listen_fds,
// go-systemd and gunicorn then ignore LISTEN_FDS and bind an address
// themselves. Asleep in select or poll, such a process (gunicorn's sync
// worker behind a wrapper shell) waits on its own socket, not on the
// inherited one it still holds. A forked worker of a master that took
// the sockets carries the master's LISTEN_PID too, but no listener of
// its own.
func misdirected(dir string, pid int, others Inodes) bool {
	if listenerAmong(dir, others) == "" {
		return false
	}
	b, err := os.ReadFile(dir + "/environ")
	if err != nil {
		return false
	}
	for _, kv := range strings.Split(string(b), "\x00") {
		if v, ok := strings.CutPrefix(kv, "LISTEN_PID="); ok {
			return v != strconv.Itoa(pid)
		}
	}
	return false
}

// ErrOwnListener is Wait's error when ctx ended while the worker, never
// seen waiting on its sockets, listens on a TCP socket of its own.
var ErrOwnListener = errors.New("listens on a socket of its own, not on the sockets it inherited")

// ownListener looks through pid's tree for a process that listens on a
// TCP socket other than socks, and returns ErrOwnListener (wrapped,
// naming the process, its address and what to do) or nil.
func ownListener(pid int, socks Inodes) error {
	queue := []int{pid}
	for n := 0; len(queue) > 0 && n < maxProcs; n++ {
		p := queue[0]
		queue = queue[1:]
		dir := "/proc/" + strconv.Itoa(p)
		_, others, _, err := fdsOf(dir, socks)
		if err != nil {
			continue
		}
		if addr := listenerAmong(dir, others); addr != "" {
			return ownListenerError(pid, p, addr)
		}
		tids, err := os.ReadDir(dir + "/task")
		if err != nil {
			continue
		}
		for _, t := range tids {
			queue = append(queue, childrenOf(dir+"/task/"+t.Name())...)
		}
	}
	return nil
}

// listenerAmong returns the address ("127.0.0.1:8000") of a TCP socket in
// the LISTEN state among inodes, from the process's /proc/PID/net/tcp
// and tcp6, or "".
func listenerAmong(dir string, inodes Inodes) string {
	if len(inodes) == 0 {
		return ""
	}
	for _, name := range []string{"/net/tcp", "/net/tcp6"} {
		b, err := os.ReadFile(dir + name)
		if err != nil {
			continue
		}
		for _, s := range parseTCP(b) {
			if s.listen && inodes[s.inode] {
				return hostPort(s.addr, s.port)
			}
		}
	}
	return ""
}

// hostPort turns /proc/net/tcp's hex address and port into "HOST:PORT".
// The address is the kernel's in-memory form: 32-bit words in host
// (little-endian) byte order.
func hostPort(addr, port string) string {
	p, err := strconv.ParseUint(port, 16, 16)
	raw, herr := hex.DecodeString(addr)
	if err != nil || herr != nil || (len(raw) != 4 && len(raw) != 16) {
		return addr + ":" + port
	}
	for i := 0; i+4 <= len(raw); i += 4 {
		raw[i], raw[i+1], raw[i+2], raw[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
	}
	return net.JoinHostPort(net.IP(raw).String(), strconv.FormatUint(p, 10))
}

// ownListenerError names the process p of worker pid's tree that listens
// on addr, and what to do about it.
func ownListenerError(pid, p int, addr string) error {
	name := comm(p)
	if p == pid {
		return fmt.Errorf("pid %d (%s) %w: %s; it does not take LISTEN_FDS or the fd it was given: "+
			"make it serve the inherited socket (go-systemd's activation.Listeners(), gunicorn with no --bind, "+
			"uvicorn --fd $(pool.sockets.NAME)) or drop its own bind", p, name, ErrOwnListener, addr)
	}
	return fmt.Errorf("pid %d (%s), started by the worker pid %d (%s), %w: %s; "+
		"LISTEN_PID names the worker, so a server it runs without exec ignores LISTEN_FDS "+
		"(sd_listen_fds, go-systemd, gunicorn check it): exec the server from the wrapper (exec %s ...)",
		p, name, pid, comm(pid), ErrOwnListener, addr, name)
}

// comm is the command name of pid, or "?".
func comm(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}
