package configs

import (
	"fmt"
	"net/netip"
	"strings"
)

// MaxUnixPath is the longest unix socket path the kernel takes (sun_path
// is 108 bytes with its terminating NUL); an abstract name's '@' counts.
const MaxUnixPath = 107

// unixPathProblem says why path cannot name a unix socket (a [sockets]
// path or an ipc:// endpoint), or "" when it can.
func unixPathProblem(path string) string {
	if len(path) > MaxUnixPath {
		return fmt.Sprintf("path %s is %d bytes long, the limit is %d (the kernel's, for a unix socket): choose a shorter path", path, len(path), MaxUnixPath)
	}
	return ""
}

// hostProblem says why a socket cannot bind host, or "" when it may: an
// IP address (IPv6 in brackets or not, with a zone or not), or a name
// that is looked up when the socket is bound.
func hostProblem(host string) string {
	h := strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if _, err := netip.ParseAddr(h); err == nil {
		return ""
	}
	labels := strings.Split(strings.TrimSuffix(h, "."), ".")
	if last := labels[len(labels)-1]; last != "" && strings.Trim(last, "0123456789") == "" {
		return fmt.Sprintf("%q is not an IP address (an IPv4 address is four numbers from 0 to 255) and cannot be a host name (its last part is a number); fix the address", host)
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || strings.Trim(l, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != "" {
			return fmt.Sprintf("%q is neither an IP address nor a host name (dot-separated parts of letters, digits and '-'); use an address such as 127.0.0.1 or ::1, or a name from /etc/hosts", host)
		}
	}
	return ""
}
