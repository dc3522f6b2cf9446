package configs

// The checks of a [sockets.NAME] section alone: its address, backlog,
// family options and owner (validate.go checks the rest).

import (
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
)

// socketDraft is a decoded socket plus the keys its section set.
type socketDraft struct {
	Socket
	present map[string]bool
}

// validateSockets checks each socket alone and returns the addresses of
// the valid ones, for checkListeners.
func validateSockets(ps *problems, drafts []socketDraft) []listenAddr {
	var valid []Socket
	for i := range drafts {
		if checkSocket(ps, &drafts[i]) {
			valid = append(valid, drafts[i].Socket)
		}
	}
	var addrs []listenAddr
	for _, s := range valid {
		if a, ok := socketAddr(s, valid); ok {
			addrs = append(addrs, a)
		}
	}
	return addrs
}

// wroteAddress: the socket at key has a key that writes its address
// whole (address = "127.0.0.1:8000"), unknown, which addressMsg's
// problem already tells how to write as host and port.
func wroteAddress(ps *problems, key string) bool {
	for _, p := range ps.list {
		if k, ok := strings.CutPrefix(p.Key, key+"."); ok && addressMsg(k, fieldKeys(socketFields)) != "" {
			return true
		}
	}
	return false
}

// hostWithPort is the port of host when it is written "HOST:PORT"
// (a socket's address in one string, as gunicorn's --bind takes it),
// else "".
func hostWithPort(host string) string {
	_, port, err := net.SplitHostPort(host)
	if err != nil {
		return ""
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return ""
	}
	return port
}

// checkSocket checks one socket alone (filling its default family) and
// reports whether it is valid.
func checkSocket(ps *problems, d *socketDraft) bool {
	s, has := &d.Socket, d.present
	key := "sockets." + s.Name
	tcpish := has["port"] || has["host"]
	switch {
	case has["path"] && tcpish:
		ps.add(key, "has both path and host/port: a socket is either unix (path) or tcp (host and port); remove one")
		return false
	case has["host"] && hostWithPort(s.Host) != "":
		h, port, _ := net.SplitHostPort(s.Host)
		ps.add(key+".host", "%q holds a port too: put it in port, host = %q and port = %s", s.Host, h, port)
		return false
	case !has["path"] && !has["port"]:
		if !wroteAddress(ps, key) { // its problem says how to write one
			ps.add(key, "needs either port (with host, default %s; port 0 lets the kernel choose) or path (a unix socket)", DefaultSocketHost)
		}
		return false
	case has["path"] && s.Path == "":
		ps.add(key+".path", "must not be empty")
		return false
	}
	if s.Family == "" {
		s.Family = DefaultSocketFamily
		if has["path"] {
			s.Family = "unix"
		}
	}
	s.Family = strings.ToLower(s.Family)
	if !slices.Contains(socketFamiles, s.Family) {
		ps.add(key+".family", "must be one of %s, got %q", strings.Join(socketFamiles, ", "), s.Family)
		return false
	}
	ip := net.ParseIP(s.Host)
	switch {
	case s.Family == "unix" && !has["path"]:
		ps.add(key+".family", `is "unix" but the socket has host/port; set path instead`)
		return false
	case s.Family != "unix" && has["path"]:
		ps.add(key+".family", "is %q but the socket has a path; use family = \"unix\" or set host and port", s.Family)
		return false
	case s.Family != "unix" && s.Host == "":
		ps.add(key+".host", "must not be empty (use 0.0.0.0 or :: for every interface)")
		return false
	case s.Family == "tcp4" && ip != nil && ip.To4() == nil:
		ps.add(key+".family", "is tcp4 but host %s is an IPv6 address", s.Host)
		return false
	case s.Family == "tcp6" && ip != nil && ip.To4() != nil:
		ps.add(key+".family", "is tcp6 but host %s is an IPv4 address", s.Host)
		return false
	case s.Family == "unix" && unixPathProblem(s.Path) != "":
		ps.add(key+".path", "%s", unixPathProblem(s.Path))
		return false
	case s.Family != "unix" && hostProblem(s.Host) != "":
		ps.add(key+".host", "%s", hostProblem(s.Host))
		return false
	}
	if !validBindIPv6Only(ps, key, *s) {
		return false
	}
	validateSocketOwner(ps, key, *s)
	if has["backlog"] {
		warnBacklog(ps, key, s.Backlog)
	}
	return true
}

// warnBacklog warns of a backlog above net.core.somaxconn, which the
// kernel applies instead, silently (listsockets shows it as QUEUE's
// limit). Only for a backlog the config sets: poold's default is its
// own choice.
func warnBacklog(ps *problems, key string, backlog int) {
	b, err := os.ReadFile("/proc/sys/net/core/somaxconn")
	if err != nil {
		return
	}
	if max, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && backlog > max {
		ps.warn(key+".backlog", "%d is above net.core.somaxconn (%d), which the kernel applies instead: at most %d connections wait to be accepted; raise it (sysctl -w net.core.somaxconn=%d, and in /etc/sysctl.d to keep it) or set backlog <= %d", backlog, max, max, backlog, max)
	}
}

// validBindIPv6Only checks a socket's bind_ipv6_only: "both" or
// "ipv6-only", on a socket on "::" only (IPV6_V6ONLY changes nothing
// for another address).
func validBindIPv6Only(ps *problems, key string, s Socket) bool {
	switch {
	case s.BindIPv6Only == "":
		return true
	case s.BindIPv6Only != BindBoth && s.BindIPv6Only != BindIPv6Only:
		ps.add(key+".bind_ipv6_only", "must be %q (IPv4 too, dual-stack) or %q, got %q", BindBoth, BindIPv6Only, s.BindIPv6Only)
		return false
	case s.Family == "unix" || !IsWildcard6(s.Host):
		ps.add(key+".bind_ipv6_only", "applies to a socket on host \"::\" only (whether it takes IPv4 too); host is %q: drop the key", s.Host)
		return false
	}
	return true
}

// validateSocketOwner checks owner and group: a unix socket with a file
// only, and a user and group of this machine (a machine fact, as a
// watcher's uid is).
func validateSocketOwner(ps *problems, key string, s Socket) {
	for _, k := range []struct{ name, v string }{{"owner", s.Owner}, {"group", s.Group}} {
		if k.v == "" {
			continue
		}
		switch {
		case s.Family != "unix":
			ps.add(key+"."+k.name, "applies to unix sockets only (a file to chown); drop it")
		case strings.HasPrefix(s.Path, "@"):
			ps.add(key+"."+k.name, "needs a socket file; the abstract socket %s has none: drop it", s.Path)
		case k.name == "owner":
			if _, err := lookupUser(k.v, true); err != nil {
				ps.add(key+".owner", "%v", err)
			}
		default:
			if _, err := lookupGroup(k.v, true); err != nil {
				ps.add(key+".group", "%v", err)
			}
		}
	}
}
