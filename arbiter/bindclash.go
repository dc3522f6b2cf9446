package arbiter

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/sockets"
)

// explainBind completes the errors of binding the sockets of cfg (at
// start, or the new config of a reload; nil when the reload failed before
// it got to the sockets): each names the file and the key that defines
// the socket, and an "address in use" on the port of one of poold's own
// endpoints (control, events, stats, console, metrics: bound at start,
// kept across reloads) names that endpoint, where the socket package can
// only name poold's pid.
func (a *Arbiter) explainBind(err error, cfg *configs.Config) error {
	if cfg == nil {
		cfg = a.cfg
	}
	return explainSocketBind(err, cfg, ownPorts(a.cfg))
}

// SocketsBindable binds the sockets of cfg and closes them at once: for
// a start that fails on one of poold's own endpoints, to report with it
// every socket that it could not have bound either (cmd/poold), instead
// of one clash a start. The error is the one a start would give: every
// socket that failed, with its file and key.
func SocketsBindable(cfg *configs.Config) error {
	set, err := sockets.Bind(cfg.Sockets)
	if err != nil {
		return explainSocketBind(err, cfg, ownPorts(cfg))
	}
	return set.Close()
}

// explainSocketBind is explainBind for the sockets of cfg, with own the
// ports of poold's endpoints.
func explainSocketBind(err error, cfg *configs.Config, own map[int]endpointKey) error {
	key := socketKey(cfg.Path)
	for _, e := range sockets.Errors(err) {
		if cfg.Path != "" { // "": built in code, no file to point at
			e.File, e.Key = cfg.Path, key(e.Socket)
		}
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

// socketKey names a socket the way the config file at path does:
// "sockets.web" in poold's own formats. A Circus or supervisord file
// (translated) spells it [socket:web] or [fcgi-program:web] socket, which
// the extension does not tell apart: socket "web" there.
func socketKey(path string) func(name string) string {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".toml", ".yaml", ".yml", ".json":
		return func(name string) string { return "sockets." + name }
	}
	return func(name string) string { return fmt.Sprintf("socket %q", name) }
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
