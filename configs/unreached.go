package configs

import (
	"net"
	"strconv"
	"strings"
)

// warnUnreached warns of each socket that no watcher's workers inherit:
// none lists it in sockets, refers to it through $(pool.sockets.NAME) in
// cmd, args or env, or has use_sockets. poold binds it all the same, so
// the kernel completes connections into its accept queue and nobody ever
// accepts them: clients hang while every watcher reports active. An
// elastic pool's sockets are its watcher's, so they count as reached. A
// file of sockets alone (its watchers come later with poolctl add) is
// let be: only watchers added at run time can serve it.
func warnUnreached(ps *problems, socks []Socket, ws []Watcher) {
	if len(ws) == 0 {
		return
	}
	reached := map[string]bool{}
	for _, w := range ws {
		for _, name := range w.SocketNames(socks) {
			reached[name] = true
		}
	}
	for _, s := range socks {
		if reached[s.Name] {
			continue
		}
		ps.warn("sockets."+s.Name, "no watcher uses it (none lists it in sockets, refers to $(pool.sockets.%s) in cmd, args or env, or sets use_sockets): "+
			"poold binds %s all the same, and connections to it wait in its accept queue, unanswered, while every watcher reports active; "+
			"add sockets = [%q] to the watcher that serves it, or remove the socket",
			s.Name, SocketAddress(s), s.Name)
	}
}

// SocketAddress is the address s binds, as a user would write it:
// host:port for TCP, the path for a unix socket.
func SocketAddress(s Socket) string {
	if s.Path != "" || strings.HasPrefix(s.Family, "unix") {
		return s.Path
	}
	return net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
}
