package main

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
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
// unbind closes what it bound. Its error is an *aheadFailure, worded
// for the user by explainAhead, off the loop (it reads /proc).
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
			return nil, &aheadFailure{path: path, l: l, err: err, live: slices.Collect(maps.Keys(liveAt))}
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

// aheadFailure is bindAhead's error as it binds: l could not be bound
// (err); path is the config file, live the addresses of poold's own
// HTTP listeners. explainAhead words it for the user.
type aheadFailure struct {
	path string
	l    httpListener
	err  error
	live []string
}

func (f *aheadFailure) Error() string {
	return fmt.Sprintf("%s cannot move to %s (%s, as the last config reload read it): %v", f.l.what, f.l.addr, f.l.key, f.err)
}

func (f *aheadFailure) Unwrap() error { return f.err }

// explainAhead is Upgrader.Explain: an *aheadFailure worded for the user
// (aheadError), any other error as it is. It looks up who holds a port
// in /proc, which took 8 to 41 s on a loaded host: the arbiter calls it
// off its loop.
func explainAhead(err error) error {
	holdIfAsked(envTestHoldExplain)
	var f *aheadFailure
	if !errors.As(err, &f) {
		return err
	}
	return aheadError(f.path, f.l, f.err, f.live)
}

// aheadError says why l cannot be bound for the next image and what to
// do; live are poold's own HTTP listeners' addresses.
func aheadError(path string, l httpListener, err error, live []string) error {
	be := explainBind(zmqguard.BindError(l.key, l.addr, err), path)
	for _, addr := range live {
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
