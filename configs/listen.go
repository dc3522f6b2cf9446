package configs

import (
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
)

// What a listening address takes besides itself: a wildcard takes every
// address of its family at its port.
const (
	coverOne  = iota // its own address only
	cover4           // every IPv4 address: a socket on 0.0.0.0
	cover6           // every IPv6 address: a socket on :: bound IPv6 only (IPv6Only)
	coverBoth        // both: a socket on :: (dual-stack), an endpoint or web address on 0.0.0.0, ::, * or "" (Go listens dual-stack)
)

// listenAddr is one address poold listens on, as the config gives it: a
// socket, a ZeroMQ endpoint, the console or the metrics listener.
type listenAddr struct {
	key   string     // the key that sets it: "sockets.web", "arbiter.endpoint"
	shown string     // "127.0.0.1:8000", "[::1]:8000", or a unix path
	path  string     // unix: the cleaned path; "" for tcp
	host  string     // tcp: the host as given, lower-cased
	ip    netip.Addr // tcp: the address bound; invalid for a wildcard or a host name
	port  int
	cover int
}

// socketAddr is where socket s listens, as validateSockets left it (a
// valid family, host and path); ok is false for a tcp port 0, which the
// kernel chooses free. all are the config's sockets: whether "::" takes
// IPv4 too depends on them (IPv6Only).
func socketAddr(s Socket, all []Socket) (listenAddr, bool) {
	key := "sockets." + s.Name
	if s.Family == "unix" {
		p := filepath.Clean(s.Path)
		return listenAddr{key: key, shown: p, path: p}, true
	}
	if s.Port == 0 {
		return listenAddr{}, false
	}
	a := tcpAddr(key, s.Host, s.Port, IsWildcard6(s.Host) && !IPv6Only(s, all))
	if strings.EqualFold(s.Host, "localhost") && s.Family == "tcp6" {
		a.ip = netip.IPv6Loopback() // sockets resolves a name in the family asked
	}
	return a, true
}

// endpointAddr is where a ZeroMQ endpoint (ipc:// or tcp://) listens.
func endpointAddr(key, ep string) (listenAddr, bool) {
	scheme, rest, _ := strings.Cut(ep, "://")
	if scheme == "ipc" {
		p := filepath.Clean(rest)
		return listenAddr{key: key, shown: p, path: p}, true
	}
	return hostPortAddr(key, rest)
}

// hostPortAddr is where an address HOST:PORT given to Go's net.Listen
// listens (a ZeroMQ tcp endpoint's, the console's, the metrics one).
func hostPortAddr(key, hostPort string) (listenAddr, bool) {
	host, port, err := net.SplitHostPort(hostPort)
	n, perr := strconv.Atoi(port)
	if err != nil || perr != nil || n <= 0 || n > 65535 {
		return listenAddr{}, false
	}
	return tcpAddr(key, host, n, true), true
}

// tcpAddr describes host:port; dual says an unspecified host listens on
// IPv4 and IPv6 at once (Go's net.Listen), not on its own family only
// (poold's sockets).
func tcpAddr(key, host string, port int, dual bool) listenAddr {
	host = strings.ToLower(strings.Trim(host, "[]"))
	a := listenAddr{key: key, host: host, port: port}
	ip, err := netip.ParseAddr(host)
	switch {
	case host == "" || host == "*":
		a.cover = coverBoth
	case host == "localhost":
		a.ip = netip.AddrFrom4([4]byte{127, 0, 0, 1}) // both resolvers prefer IPv4
	case err != nil: // a host name: only the same name is known to meet it
	case ip.Unmap().IsUnspecified() && dual:
		a.cover = coverBoth
	case ip.Unmap().IsUnspecified() && ip.Unmap().Is4():
		a.cover = cover4
	case ip.IsUnspecified():
		a.cover = cover6
	default:
		a.ip = ip.Unmap()
	}
	a.shown = net.JoinHostPort(host, strconv.Itoa(port))
	return a
}

// takes reports whether a listening at its address leaves ip (at the
// same port) to no one else.
func (a listenAddr) takes(ip netip.Addr) bool {
	switch a.cover {
	case coverBoth:
		return true
	case cover4:
		return ip.Is4()
	case cover6:
		return ip.Is6()
	}
	return a.ip.IsValid() && a.ip == ip
}

// overlaps reports whether a and b cannot both listen.
func (a listenAddr) overlaps(b listenAddr) bool {
	switch {
	case a.path != "" || b.path != "":
		return a.path == b.path
	case a.port != b.port:
		return false
	case a.cover != coverOne && b.cover != coverOne:
		return a.cover == coverBoth || b.cover == coverBoth || a.cover == b.cover
	case a.cover != coverOne:
		return b.ip.IsValid() && a.takes(b.ip) || !b.ip.IsValid() && a.cover == coverBoth
	case b.cover != coverOne:
		return b.overlaps(a)
	case a.ip.IsValid() && b.ip.IsValid():
		return a.ip == b.ip
	}
	return a.host == b.host
}

// why explains how a's address reaches another one: "0.0.0.0 is every
// IPv4 address"; "" when it is only itself.
func (a listenAddr) why() string {
	h := a.host
	if h == "" {
		h = `""`
	}
	switch {
	case a.cover == cover4:
		return h + " is every IPv4 address"
	case a.cover == cover6:
		return h + " is every IPv6 address"
	case a.cover == coverBoth:
		return h + " is every address, IPv4 and IPv6"
	case a.host == "localhost":
		return "localhost is " + a.ip.String()
	}
	return ""
}

// checkListeners reports each address of the config that another one
// already takes: two sockets, a socket and an endpoint, the console or
// the metrics listener, in any pair. Each of them would be refused only
// when poold binds it, at start, with "address already in use". Port 0
// (the kernel chooses) meets nothing. The later key names the earlier.
func checkListeners(ps *problems, arb Arbiter, web Web, sockets []listenAddr) {
	var all []listenAddr
	for _, ep := range []struct{ key, val string }{
		{"arbiter.endpoint", arb.Endpoint}, {"arbiter.pubsub_endpoint", arb.PubSubEndpoint}, {"arbiter.stats_endpoint", arb.StatsEndpoint},
	} {
		if _, _, err := parseEndpoint(ep.val); err == nil {
			if a, ok := endpointAddr(ep.key, ep.val); ok {
				all = append(all, a)
			}
		}
	}
	if a, ok := hostPortAddr("web.address", web.Address); ok && web.Enabled {
		all = append(all, a)
	}
	if a, ok := hostPortAddr("web.metrics_address", web.MetricsAddress); ok {
		all = append(all, a)
	}
	all = append(all, sockets...)
	for j, b := range all {
		for _, a := range all[:j] {
			if !a.overlaps(b) {
				continue
			}
			if a.shown == b.shown {
				ps.add(b.key, "has the same address (%s) as %s; give each its own address", b.shown, a.key)
			} else {
				var reasons []string
				for _, r := range []string{b.why(), a.why()} {
					if r != "" {
						reasons = append(reasons, r)
					}
				}
				todo := "give each its own port"
				for _, p := range [][2]listenAddr{{b, a}, {a, b}} {
					if x := p[0]; x.cover == coverBoth && strings.HasPrefix(x.key, "sockets.") {
						// Offered only where IPv6 only would part them: not
						// beside [::1] or another dual-stack listener.
						if x.cover = cover6; !x.overlaps(p[1]) {
							todo += fmt.Sprintf(", or set bind_ipv6_only = %q in %s (IPv6 only)", BindIPv6Only, x.key)
						}
					}
				}
				ps.add(b.key, "its address %s meets %s's %s (%s), and poold cannot listen on both; %s", b.shown, a.key, a.shown, strings.Join(reasons, "; "), todo)
			}
			break
		}
	}
}

// The values of a socket's bind_ipv6_only (systemd's BindIPv6Only=).
const (
	BindBoth     = "both"
	BindIPv6Only = "ipv6-only"
)

// IsWildcard6 reports whether host (as a socket gives it, brackets or
// not) is the IPv6 wildcard "::", the one address IPV6_V6ONLY changes.
func IsWildcard6(host string) bool {
	ip, err := netip.ParseAddr(strings.Trim(strings.TrimSpace(host), "[]"))
	return err == nil && ip.Is6() && !ip.Is4In6() && ip.IsUnspecified()
}

// IPv6Only reports whether a tcp socket s on "::" is bound IPv6 only:
// bind_ipv6_only = "ipv6-only", or no bind_ipv6_only while another
// socket of all binds an IPv4 address (0.0.0.0, 127.0.0.1, localhost)
// at the same port. "::" is otherwise dual-stack, as Go's net.Listen,
// systemd (BindIPv6Only=default) and Circus bind it; beside an IPv4
// socket on its port it takes IPv6 only, for both to bind. For any
// other socket it is false.
func IPv6Only(s Socket, all []Socket) bool {
	if s.Path != "" || s.Family == "unix" || !IsWildcard6(s.Host) {
		return false
	}
	switch s.BindIPv6Only {
	case BindIPv6Only:
		return true
	case BindBoth:
		return false
	}
	if s.Port == 0 {
		return false
	}
	for _, o := range all {
		if o.Name == s.Name || o.Path != "" || o.Family == "unix" || o.Port != s.Port {
			continue
		}
		h := strings.ToLower(strings.Trim(strings.TrimSpace(o.Host), "[]"))
		if ip, err := netip.ParseAddr(h); h == "localhost" && o.Family != "tcp6" || err == nil && ip.Unmap().Is4() {
			return true
		}
	}
	return false
}
