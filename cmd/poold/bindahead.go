package main

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events/zmqguard"
	"github.com/poold/poold/web"
)

// A [web] address a reload changed keeps its old value until poold
// restarts or is upgraded in place: the upgrade's new image applies it.
// The new image cannot refuse anything once it holds the workers, so
// the old one binds the new address just before the exec (bindAhead)
// and hands the listener over with its own: a taken address refuses the
// upgrade, nothing changed, instead of costing the new image its
// console, or (before) poold and every worker.

// httpListener is one HTTP listener a config has poold run.
type httpListener struct {
	role, addr string // as listenHTTP names it
	key, what  string // its config key, and what it serves, for errors
}

// httpListenersOf lists the console and metrics listeners of w.
func httpListenersOf(w configs.Web) []httpListener {
	var out []httpListener
	if w.Enabled {
		out = append(out, httpListener{role: "console", addr: web.ConsoleAddress(w), key: "web.address", what: "the web console"})
	}
	if w.MetricsAddress != "" {
		out = append(out, httpListener{role: "metrics", addr: w.MetricsAddress, key: "web.metrics_address", what: "the metrics listener"})
	}
	return out
}

// bindAhead binds the HTTP listeners of cfg that no live listener of
// poold holds, for ownListeners to hand over (Upgrader.Bind); path is
// the config file, for errors. A listener of the other role on the same
// address (the two swapped) is handed over under the new name instead.
// unbind closes what it bound.
func bindAhead(path string, cfg *configs.Config) (unbind func(), err error) {
	httpListeners.mu.Lock()
	defer httpListeners.mu.Unlock()
	clear(httpListeners.ahead)
	held := map[string]bool{}
	liveAt := map[string]net.Listener{} // by address
	for ln, name := range httpListeners.live {
		held[name] = true
		_, addr, _ := strings.Cut(name, " ")
		liveAt[addr] = ln
	}
	var bound []net.Listener
	release := func() {
		for _, ln := range bound {
			ln.Close()
		}
		clear(httpListeners.ahead)
	}
	for _, l := range httpListenersOf(cfg.Web) {
		name := l.role + " " + l.addr
		if held[name] {
			continue
		}
		if ln := liveAt[l.addr]; ln != nil && !anyPort(l.addr) {
			httpListeners.ahead[name] = ln
			continue
		}
		ln, err := net.Listen("tcp", l.addr)
		if err != nil {
			release()
			return nil, aheadError(path, l, err, liveAt)
		}
		bound = append(bound, ln)
		httpListeners.ahead[name] = ln
	}
	return func() {
		httpListeners.mu.Lock()
		defer httpListeners.mu.Unlock()
		release()
	}, nil
}

// aheadError says why l cannot be bound for the next image and what to
// do; liveAt are poold's own HTTP listeners, by address.
func aheadError(path string, l httpListener, err error, liveAt map[string]net.Listener) error {
	be := explainBind(zmqguard.BindError(l.key, l.addr, err), path)
	for addr := range liveAt {
		if errors.Is(err, syscall.EADDRINUSE) && overlaps(addr, l.addr) {
			return ownPortError(l, be, addr)
		}
	}
	return fmt.Errorf("%s cannot move to %s (%s, as the last config reload read it), so the new image would run without it: %w; "+
		"once the address is free, or %s changed and poolctl reloadconfig run, upgrade again", l.what, l.addr, l.key, be, l.key)
}

// ownPortError is aheadError when poold's own listener on addr holds
// l's port (127.0.0.1:P moved to 0.0.0.0:P): the holder is poold, the
// bind error's hint about sockets and endpoints does not apply, and only
// a restart or another port does.
func ownPortError(l httpListener, be error, addr string) error {
	var b *zmqguard.BindErr
	if errors.As(be, &b) {
		b.Hint = ""
	}
	return fmt.Errorf("%s cannot move to %s (%s, as the last config reload read it): %w: poold's own listener on %s holds that port "+
		"until the exec, and an upgrade binds the new address before it, so it cannot move a listener onto an address that overlaps one of its own "+
		"(the same port on 0.0.0.0 and on 127.0.0.1, say): restart poold to apply %s, or give %s another port, run poolctl reloadconfig and upgrade again",
		l.what, l.addr, l.key, be, addr, l.key, l.key)
}

// anyPort: addr asks the kernel for a port (each bind gets another).
func anyPort(addr string) bool {
	_, port, err := net.SplitHostPort(addr)
	return err == nil && port == "0"
}

// overlaps: a and b (host:port) are the same port on the same host, or
// one of them on every address.
func overlaps(a, b string) bool {
	ha, pa, err1 := net.SplitHostPort(a)
	hb, pb, err2 := net.SplitHostPort(b)
	if err1 != nil || err2 != nil || pa != pb || pa == "0" {
		return false
	}
	unspecified := func(h string) bool { ip := net.ParseIP(h); return h == "" || (ip != nil && ip.IsUnspecified()) }
	return ha == hb || unspecified(ha) || unspecified(hb)
}
