package zmqguard

import (
	"net"
	"strings"
	"sync"
	"syscall"
)

// In-place upgrade (poolctl upgrade): the listening sockets of every
// guarded transport are handed from one image of poold to the next by fd,
// so a client connecting meanwhile is never refused. The old image lists
// them with Listening; the new image gives them back with Inherit before
// binding, and Listen takes an inherited listener for its exact address
// instead of binding (an ipc socket file is then neither removed nor made
// again).

// listenKey names a listening address: "tcp 127.0.0.1:5555",
// "unix /run/poold/control.sock", as Listen receives it from zmq4.
func listenKey(network, addr string) string { return network + " " + addr }

var registry = struct {
	mu        sync.Mutex
	inherited map[string]net.Listener // handed over, not taken yet
	live      map[*listener]string    // bound or taken, by key
	peers     map[string]int64        // peers the previous image had, by key
	conns     map[string][]inheritedConn
}{inherited: map[string]net.Listener{}, live: map[*listener]string{}, peers: map[string]int64{}, conns: map[string][]inheritedConn{}}

// Inherit gives Listen a listener handed over by the previous image for
// network ("tcp" or "unix") and addr as the endpoint names them
// ("tcp://127.0.0.1:5555" -> "tcp", "127.0.0.1:5555"; "ipc:///p" ->
// "unix", "/p"). The first Listen on that address takes it.
func Inherit(network, addr string, ln net.Listener) {
	if ul, ok := ln.(*net.UnixListener); ok {
		ul.SetUnlinkOnClose(true) // as if this image had made the file
	}
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if old := registry.inherited[listenKey(network, addr)]; old != nil {
		old.Close()
	}
	registry.inherited[listenKey(network, addr)] = ln
}

// Unclaimed closes the inherited listeners no Listen took (the config
// moved that endpoint) and returns their keys; the connections handed
// over with them are closed too.
func Unclaimed() []string {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	unclaimedConns()
	var keys []string
	for k, ln := range registry.inherited {
		ln.Close()
		keys = append(keys, k)
	}
	clear(registry.inherited)
	return keys
}

// SplitKey splits a key of Listening into the network and address
// Inherit takes.
func SplitKey(k string) (network, addr string, ok bool) {
	network, addr, ok = strings.Cut(k, " ")
	return network, addr, ok && (network == "tcp" || network == "unix")
}

// HandedOver reports whether a listener handed over by the previous
// image waits for endpoint ("tcp://host:port" or "ipc:///path"): a Listen
// on it now takes that listener instead of binding, which a log line
// should say.
func HandedOver(endpoint string) bool {
	k, ok := endpointKey(endpoint)
	if !ok {
		return false
	}
	registry.mu.Lock()
	defer registry.mu.Unlock()
	return registry.inherited[k] != nil
}

// endpointKey is the key of Listening for endpoint ("tcp://host:port",
// "ipc:///path").
func endpointKey(endpoint string) (string, bool) {
	scheme, addr, ok := strings.Cut(endpoint, "://")
	network := map[string]string{"tcp": "tcp", "ipc": "unix"}[scheme]
	if !ok || network == "" {
		return "", false
	}
	return listenKey(network, addr), true
}

// Peers returns, by the keys of Listening, how many peers are connected
// to each open guarded listener's transport, for the state an upgrade
// hands over: the connections themselves close in the exec, and their
// peers (libzmq reconnects by itself) come back to the new image.
func Peers() map[string]int64 {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	out := map[string]int64{}
	for l, k := range registry.live {
		if n := l.g.conns.Load(); n > 0 {
			out[k] = n
		}
	}
	return out
}

// ExpectPeers records that the previous image had n peers on the
// listener it handed over for network and addr (see Peers).
func ExpectPeers(network, addr string, n int64) {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	registry.peers[listenKey(network, addr)] = n
}

// ExpectedPeers returns, once, how many peers the previous image had on
// endpoint ("tcp://host:port" or "ipc:///path"); 0 when none or no
// upgrade handed it over.
func ExpectedPeers(endpoint string) int64 {
	k, ok := endpointKey(endpoint)
	if !ok {
		return 0
	}
	registry.mu.Lock()
	defer registry.mu.Unlock()
	n := registry.peers[k]
	delete(registry.peers, k)
	return n
}

// takeInherited returns the listener handed over for addr, or nil.
func takeInherited(network, addr string) net.Listener {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	k := listenKey(network, addr)
	ln := registry.inherited[k]
	delete(registry.inherited, k)
	return ln
}

func track(l *listener, network, addr string) {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	registry.live[l] = listenKey(network, addr)
}

func untrack(l *listener) {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	delete(registry.live, l)
}

// Listening returns the fd of every open guarded listener by its key
// ("tcp 127.0.0.1:5555"), for the state an upgrade hands over. The fds
// stay owned by their listeners. The new image splits a key with
// SplitKey and calls Inherit.
func Listening() map[string]int {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	out := map[string]int{}
	for l, k := range registry.live {
		if fd := RawFD(l.raw); fd >= 0 {
			out[k] = fd
		}
	}
	return out
}

// RawFD is a listener's own fd (not a dup, which File would make), or -1.
func RawFD(ln net.Listener) int {
	sc, ok := ln.(interface {
		SyscallConn() (syscall.RawConn, error)
	})
	if !ok {
		return -1
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1
	}
	fd := -1
	_ = rc.Control(func(u uintptr) { fd = int(u) })
	return fd
}
