package main

import (
	"fmt"
	"net"
	"os"
	"strings"
	"sync"

	"github.com/poold/poold/events/zmqguard"
)

// poold's own listeners across an in-place upgrade: the old image hands
// the fds of its control, event and stats endpoints (zmqguard's) and of
// its console and metrics listeners (here) over in the state; the new
// image takes each one for the same address instead of binding it, so no
// client connecting meanwhile is refused. Keys: "tcp ADDR" and
// "unix PATH" (zmq endpoints, see zmqguard.Listening), "http ROLE ADDR"
// (ROLE "console" or "metrics": both may be on 127.0.0.1:0).

const httpKey = "http "

var httpListeners = struct {
	mu        sync.Mutex
	inherited map[string]net.Listener // by "ROLE ADDR", not taken yet
	live      map[net.Listener]string // "ROLE ADDR"
	// ahead, by "ROLE ADDR": what an upgrade bound for the next image
	// (bindAhead), or a live listener of the other role on that address.
	ahead map[string]net.Listener
}{inherited: map[string]net.Listener{}, live: map[net.Listener]string{}, ahead: map[string]net.Listener{}}

// inheritListeners takes the listeners the previous image handed over.
// One that cannot be used is closed and said; its address is bound again.
func inheritListeners(fds map[string]int) {
	for key, fd := range fds {
		f := os.NewFile(uintptr(fd), key)
		ln, err := net.FileListener(f) // a dup, close-on-exec
		f.Close()
		if err != nil {
			fmt.Fprintf(os.Stderr, "poold: upgrade: listener %q (fd %d) not taken over, it is bound again: %v\n", key, fd, err)
			continue
		}
		if name, ok := strings.CutPrefix(key, httpKey); ok {
			httpListeners.mu.Lock()
			httpListeners.inherited[name] = ln
			httpListeners.mu.Unlock()
		} else if network, addr, ok := zmqguard.SplitKey(key); ok {
			zmqguard.Inherit(network, addr, ln)
		} else {
			ln.Close()
		}
	}
}

// listenHTTP takes the listener inherited for role ("console",
// "metrics") on addr, or binds addr. done must be called once the
// listener is closed.
func listenHTTP(role, addr string) (ln net.Listener, done func(), err error) {
	name := role + " " + addr
	httpListeners.mu.Lock()
	defer httpListeners.mu.Unlock()
	ln = httpListeners.inherited[name]
	delete(httpListeners.inherited, name)
	if ln == nil {
		if ln, err = net.Listen("tcp", addr); err != nil {
			return nil, nil, err
		}
	}
	httpListeners.live[ln] = name
	return ln, func() {
		httpListeners.mu.Lock()
		defer httpListeners.mu.Unlock()
		delete(httpListeners.live, ln)
	}, nil
}

// takeInheritedRole takes the listener inherited for role at whatever
// address, and registers it live under that address: the listener an
// upgrade's new image falls back on when it cannot bind the one its
// config names (httpParts.listen). addr is "" when there is none.
func takeInheritedRole(role string) (ln net.Listener, addr string, done func()) {
	httpListeners.mu.Lock()
	defer httpListeners.mu.Unlock()
	for name, l := range httpListeners.inherited {
		if r, a, _ := strings.Cut(name, " "); r == role {
			delete(httpListeners.inherited, name)
			httpListeners.live[l] = name
			return l, a, func() {
				httpListeners.mu.Lock()
				defer httpListeners.mu.Unlock()
				delete(httpListeners.live, l)
			}
		}
	}
	return nil, "", nil
}

// closeUnclaimed closes the inherited listeners whose address the config
// no longer names, once every transport is up, and returns their keys.
func closeUnclaimed() []string {
	keys := zmqguard.Unclaimed()
	httpListeners.mu.Lock()
	defer httpListeners.mu.Unlock()
	for name, ln := range httpListeners.inherited {
		ln.Close()
		keys = append(keys, httpKey+name)
	}
	clear(httpListeners.inherited)
	return keys
}

// ownListeners lists the fds of poold's own listeners by key, for the
// state an upgrade hands over.
func ownListeners() map[string]int {
	out := zmqguard.Listening()
	httpListeners.mu.Lock()
	defer httpListeners.mu.Unlock()
	for ln, name := range httpListeners.live {
		if fd := zmqguard.RawFD(ln); fd >= 0 {
			out[httpKey+name] = fd
		}
	}
	for name, ln := range httpListeners.ahead {
		if fd := zmqguard.RawFD(ln); fd >= 0 {
			out[httpKey+name] = fd
		}
	}
	return out
}
