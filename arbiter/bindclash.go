package arbiter

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"syscall"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/sockets"
)

// explainOwnEndpoints improves the "address in use" of a socket poold
// binds at start when the port is one of poold's own endpoints, bound
// just before (control, events, stats, console, metrics): the socket
// package can only guess "another process".
func explainOwnEndpoints(err error, cfg *configs.Config) error {
	own := ownPorts(cfg)
	for _, e := range socketErrors(err) {
		if !errors.Is(e, syscall.EADDRINUSE) {
			continue
		}
		_, p, splitErr := net.SplitHostPort(e.Addr)
		port, _ := strconv.Atoi(p)
		if ep, ok := own[port]; ok && splitErr == nil {
			e.Hint = fmt.Sprintf("poold's own %s (%s) is bound to this port; give socket %q or %s another port", ep.key, ep.value, e.Socket, ep.key)
		}
	}
	return err
}

// endpointKey is one of poold's own endpoints: its config key and value.
type endpointKey struct{ key, value string }

// ownPorts maps the tcp ports of poold's own endpoints to them.
func ownPorts(cfg *configs.Config) map[int]endpointKey {
	out := map[int]endpointKey{}
	add := func(key, value, addr string) {
		if _, p, err := net.SplitHostPort(addr); err == nil {
			if port, err := strconv.Atoi(p); err == nil && port > 0 {
				out[port] = endpointKey{key, value}
			}
		}
	}
	for _, ep := range []struct{ key, v string }{
		{"arbiter.endpoint", cfg.Arbiter.Endpoint},
		{"arbiter.pubsub_endpoint", cfg.Arbiter.PubSubEndpoint},
		{"arbiter.stats_endpoint", cfg.Arbiter.StatsEndpoint},
	} {
		if u, err := url.Parse(ep.v); err == nil && u.Scheme == "tcp" {
			add(ep.key, ep.v, u.Host)
		}
	}
	if cfg.Web.Enabled {
		add("web.address", cfg.Web.Address, cfg.Web.Address)
	}
	if cfg.Web.MetricsAddress != "" {
		add("web.metrics_address", cfg.Web.MetricsAddress, cfg.Web.MetricsAddress)
	}
	return out
}

// socketErrors lists the *sockets.Error in err and in the errors it joins.
func socketErrors(err error) []*sockets.Error {
	var out []*sockets.Error
	var walk func(error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		var e *sockets.Error
		if errors.As(err, &e) {
			out = append(out, e)
		}
	}
	walk(err)
	return out
}
