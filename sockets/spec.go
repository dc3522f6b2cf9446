package sockets

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/poold/poold/configs"
)

// maxUnixPath is the longest unix socket path the kernel accepts
// (sun_path is 108 bytes including the terminating NUL).
const maxUnixPath = 107

// resolveTimeout bounds a host-name lookup during Bind.
const resolveTimeout = 10 * time.Second

// normalize fills defaults and checks one spec. The result is what a
// Listener's Spec holds, so that equal configs compare equal in Apply.
func normalize(s configs.Socket) (configs.Socket, error) {
	if err := checkName(s.Name); err != nil {
		return s, err
	}
	s.Family = strings.ToLower(strings.TrimSpace(s.Family))
	if s.Family == "" {
		s.Family = "tcp"
		if s.Path != "" {
			s.Family = "unix"
		}
	}
	if s.Backlog == 0 {
		s.Backlog = configs.DefaultBacklog
	}
	if s.Backlog < 0 {
		return s, invalid(s.Name, "backlog must be > 0, got %d", s.Backlog)
	}
	switch s.Family {
	case "unix":
		if s.Path == "" {
			return s, invalid(s.Name, "family unix needs a path")
		}
		if len(s.Path) > maxUnixPath {
			return s, invalid(s.Name, "path %s is %d bytes long, the limit is %d: choose a shorter path", s.Path, len(s.Path), maxUnixPath)
		}
		if s.ReusePort {
			return s, invalid(s.Name, "reuseport applies to tcp sockets only")
		}
		if s.BindIPv6Only != "" {
			return s, invalid(s.Name, "bind_ipv6_only applies to tcp sockets on \"::\" only")
		}
		if s.Mode == 0 {
			s.Mode = configs.DefaultSocketMode
		}
		s.Mode = s.Mode.Perm()
		s.Host, s.Port = "", 0 // a default host from the config means nothing here
		if s.Owner != "" || s.Group != "" {
			if isAbstract(s.Path) {
				return s, invalid(s.Name, "owner and group need a socket file; an abstract socket (%s) has none: drop them", s.Path)
			}
			if _, _, err := s.Ownership(); err != nil {
				return s, invalid(s.Name, "%v", err)
			}
		}
	case "tcp", "tcp4", "tcp6":
		if s.Path != "" {
			return s, invalid(s.Name, "path %s is for unix sockets, but family is %s: drop the path or set family = unix", s.Path, s.Family)
		}
		s.Host = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(s.Host), "["), "]")
		if s.Host == "" {
			s.Host = configs.DefaultSocketHost
		}
		if err := checkBindIPv6Only(s); err != nil {
			return s, err
		}
		if s.Port < 0 || s.Port > 65535 {
			return s, invalid(s.Name, "port must be 0..65535, got %d", s.Port)
		}
		if s.Owner != "" || s.Group != "" {
			return s, invalid(s.Name, "owner and group apply to unix sockets only (a file to chown): drop them")
		}
	default:
		return s, invalid(s.Name, "family %q is not supported (use tcp, tcp4, tcp6 or unix)", s.Family)
	}
	return s, nil
}

// checkBindIPv6Only checks a tcp socket's bind_ipv6_only.
func checkBindIPv6Only(s configs.Socket) error {
	switch {
	case s.BindIPv6Only == "":
		return nil
	case s.BindIPv6Only != configs.BindBoth && s.BindIPv6Only != configs.BindIPv6Only:
		return invalid(s.Name, "bind_ipv6_only must be %q or %q, got %q", configs.BindBoth, configs.BindIPv6Only, s.BindIPv6Only)
	case !configs.IsWildcard6(s.Host):
		return invalid(s.Name, "bind_ipv6_only applies to a socket on host \"::\" only; host is %q: drop the key", s.Host)
	}
	return nil
}

// checkName enforces what LISTEN_FDNAMES can carry: systemd allows up to
// 255 printable ASCII characters, no ':' (the separator).
func checkName(name string) error {
	if name == "" {
		return &Error{Socket: `""`, Err: errors.New("invalid socket spec: a socket needs a name")}
	}
	if len(name) > 255 {
		return invalid(name, "name is longer than 255 bytes")
	}
	for _, r := range name {
		if r <= ' ' || r > '~' || r == ':' {
			return invalid(name, "name may hold only printable ASCII without spaces or ':' (it travels in LISTEN_FDNAMES)")
		}
	}
	return nil
}

// SameEndpoint reports whether a and b bind the same thing, so that b can
// be applied to a socket bound from a by changing backlog, mode, owner,
// group or blocking mode in place.
// The same tcp address written otherwise counts: localhost for 127.0.0.1
// (binding it again failed with "address already in use": poold held it).
func SameEndpoint(a, b configs.Socket) bool {
	a.Backlog, b.Backlog = 0, 0
	a.Mode, b.Mode = 0, 0
	a.ReplaceStale, b.ReplaceStale = false, false
	a.Owner, b.Owner, a.Group, b.Group = "", "", "", ""
	a.NonBlocking, b.NonBlocking = false, false
	// Whether "::" takes IPv4 too is the Listener's (fitsFamily): the
	// key may change while the socket stays as it is.
	a.BindIPv6Only, b.BindIPv6Only = "", ""
	if a == b {
		return true
	}
	if a.Family == "unix" || b.Family == "unix" {
		// A path written otherwise is bound anew at a temporary name and
		// renamed over the old file: no refusal, no gap.
		return false
	}
	ha, hb := a, b
	a.Host, b.Host = "", ""
	if a != b {
		return false
	}
	ta, err := resolve(ha)
	if err != nil {
		return false
	}
	tb, err := resolve(hb)
	return err == nil && ta == tb
}

// unixKey is how two unix paths are compared for clashes.
func unixKey(s configs.Socket) string {
	p, err := filepath.Abs(s.Path)
	if err != nil {
		return filepath.Clean(s.Path)
	}
	return p
}

// tcpTarget is a resolved tcp bind address.
type tcpTarget struct {
	ip   netip.Addr // unmapped; with zone for link-local v6
	zone uint32     // interface index for a zoned v6 address
	v6   bool
}

// resolve turns the spec's host into one IP of the right family. A name
// is looked up (usually /etc/hosts); family tcp prefers IPv4 for a name
// that has both, as "localhost" does.
func resolve(s configs.Socket) (tcpTarget, error) {
	fail := func(err error, hint string) (tcpTarget, error) {
		return tcpTarget{}, &Error{Socket: s.Name, Op: "resolve", Addr: s.Host, Err: err, Hint: hint}
	}
	ip, err := netip.ParseAddr(s.Host)
	if err != nil {
		network := map[string]string{"tcp": "ip", "tcp4": "ip4", "tcp6": "ip6"}[s.Family]
		ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
		defer cancel()
		ips, lerr := net.DefaultResolver.LookupNetIP(ctx, network, s.Host)
		if lerr != nil || len(ips) == 0 {
			if lerr == nil {
				lerr = errors.New("no address of family " + s.Family)
			}
			return fail(lerr, "use an IP address, or a name listed in /etc/hosts")
		}
		ip = ips[0]
		for _, a := range ips {
			if a.Unmap().Is4() {
				ip = a
				break
			}
		}
	}
	if ip.Is4In6() {
		if s.Family == "tcp6" {
			return fail(errors.New("an IPv4-mapped address cannot be bound as tcp6"), "use family tcp or tcp4, or an IPv6 address")
		}
		ip = ip.Unmap()
	}
	t := tcpTarget{ip: ip, v6: ip.Is6()}
	switch {
	case s.Family == "tcp4" && t.v6:
		return fail(errors.New("an IPv6 address cannot be bound as tcp4"), "use family tcp or tcp6, or an IPv4 address")
	case s.Family == "tcp6" && !t.v6:
		return fail(errors.New("an IPv4 address cannot be bound as tcp6"), "use family tcp or tcp4, or an IPv6 address")
	}
	if z := ip.Zone(); z != "" {
		if n, err := strconv.ParseUint(z, 10, 32); err == nil {
			t.zone = uint32(n)
		} else {
			ifi, err := net.InterfaceByName(z)
			if err != nil {
				return fail(err, "the zone after % must name a network interface of this machine")
			}
			t.zone = uint32(ifi.Index)
		}
	}
	return t, nil
}
