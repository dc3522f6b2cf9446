// Readiness and health-check settings, and the addresses they probe.

package configs

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

var (
	readinessKinds   = []string{"spawn", "delay", "notify", "tcp", "http"}
	healthCheckKinds = []string{"http", "tcp", "exec"}
)

// validateProbes checks readiness, health checks, flapping and their keys
// taken together. k turns a key into its full path.
func validateProbes(ps *problems, k func(string) string, w *Watcher) {
	// Address and URL shapes are checked whenever set, used or not.
	for _, a := range []struct{ key, val string }{{"ready_address", w.ReadyAddress}, {"health_address", w.HealthAddress}} {
		if a.val != "" {
			if err := checkAddress(a.val); err != nil {
				ps.add(k(a.key), "%v", err)
			}
		}
	}
	for _, u := range []struct{ key, val string }{{"ready_url", w.ReadyURL}, {"health_url", w.HealthURL}} {
		if u.val != "" {
			if err := checkHTTPURL(u.val); err != nil {
				ps.add(k(u.key), "%v", err)
			}
		}
	}
	if !ps.has(k("readiness")) {
		w.Readiness = strings.ToLower(strings.TrimSpace(w.Readiness))
		switch w.Readiness {
		case "tcp":
			if w.ReadyAddress == "" && !ps.has(k("ready_address")) {
				ps.add(k("ready_address"), `missing: readiness "tcp" needs the address to connect to, e.g. ready_address = "127.0.0.1:8000"`)
			}
		case "http":
			if w.ReadyURL == "" && !ps.has(k("ready_url")) {
				ps.add(k("ready_url"), `missing: readiness "http" needs the URL to fetch, e.g. ready_url = "http://127.0.0.1:8000/healthz"`)
			}
		case "delay":
			if w.ReadyDelay >= w.ReadyTimeout && !ps.has(k("ready_delay")) && !ps.has(k("ready_timeout")) {
				ps.add(k("ready_delay"), "(%s) must be shorter than ready_timeout (%s), or every start would time out", w.ReadyDelay, w.ReadyTimeout)
			}
		case "spawn", "notify":
		default:
			ps.add(k("readiness"), "must be one of %s, got %q", strings.Join(readinessKinds, ", "), w.Readiness)
		}
	}
	if !ps.has(k("health_check")) {
		w.HealthCheck = strings.ToLower(strings.TrimSpace(w.HealthCheck))
		switch w.HealthCheck {
		case "":
		case "http":
			if w.HealthURL == "" && !ps.has(k("health_url")) {
				ps.add(k("health_url"), `missing: health_check "http" needs the URL to fetch, e.g. health_url = "http://127.0.0.1:8000/healthz"`)
			}
		case "tcp":
			if w.HealthAddress == "" && !ps.has(k("health_address")) {
				ps.add(k("health_address"), `missing: health_check "tcp" needs the address to connect to, e.g. health_address = "127.0.0.1:8000"`)
			}
		case "exec":
			if strings.TrimSpace(w.HealthCmd) == "" && !ps.has(k("health_cmd")) {
				ps.add(k("health_cmd"), `missing: health_check "exec" needs the command to run, e.g. health_cmd = "/usr/local/bin/check --pid $POOLD_PID"`)
			}
		default:
			ps.add(k("health_check"), `must be one of %s, or "" for none, got %q`, strings.Join(healthCheckKinds, ", "), w.HealthCheck)
		}
	}
	warnUnusedTargets(ps, k, w)
	if w.FlappingAttempts > 0 && w.FlappingWindow <= 0 && !ps.has(k("flapping_window")) {
		ps.add(k("flapping_window"), "must be a positive duration while flapping_attempts is %d (set flapping_attempts = 0 to turn flapping detection off), got %s", w.FlappingAttempts, w.FlappingWindow)
	}
}

// warnUnusedTargets warns of a probe target that nothing probes: a
// health_url without health_check = "http" (a forgotten health_check
// would leave the pool unchecked without a word), a ready_address without
// readiness = "tcp", and so on. A warning, not an error: a target kept
// while its probe is switched off for a while is legitimate.
func warnUnusedTargets(ps *problems, k func(string) string, w *Watcher) {
	for _, t := range []struct{ key, val, mode, kind, want string }{
		{"ready_address", w.ReadyAddress, "readiness", w.Readiness, "tcp"},
		{"ready_url", w.ReadyURL, "readiness", w.Readiness, "http"},
		{"health_address", w.HealthAddress, "health_check", w.HealthCheck, "tcp"},
		{"health_url", w.HealthURL, "health_check", w.HealthCheck, "http"},
		{"health_cmd", w.HealthCmd, "health_check", w.HealthCheck, "exec"},
	} {
		if strings.TrimSpace(t.val) == "" || t.kind == t.want || ps.has(k(t.mode)) {
			continue
		}
		ps.warn(k(t.key), "is set but not used: %s is %q, so nothing probes it; set %s = %q to use it, or remove %s", k(t.mode), t.kind, t.mode, t.want, t.key)
	}
}

// checkAddress checks a "HOST:PORT" to connect to. With variables
// ($(pool.wid), ...) only the shape can be checked before expansion.
func checkAddress(s string) error {
	bad := fmt.Errorf(`must be "HOST:PORT" such as "127.0.0.1:8000", got %q`, s)
	if len(variables(s)) > 0 {
		if i := strings.LastIndexByte(s, ':'); i <= 0 || i == len(s)-1 {
			return bad
		}
		return nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" {
		return bad
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port must be a number between 1 and 65535, got %q", s)
	}
	return nil
}

// checkHTTPURL checks a URL to probe: http:// and a host. With variables
// only the scheme and a non-empty host part can be checked.
func checkHTTPURL(s string) error {
	bad := fmt.Errorf(`must be an http:// URL such as "http://127.0.0.1:8000/healthz", got %q`, s)
	rest, ok := cutPrefixFold(s, "http://")
	if !ok || rest == "" || rest[0] == '/' {
		return bad
	}
	if len(variables(s)) > 0 {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return bad
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("port must be a number between 1 and 65535, got %q", s)
		}
	}
	return nil
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return s, false
	}
	return s[len(prefix):], true
}

// checkProbeTargets refuses a readiness or health probe aimed at one of
// poold's own tcp sockets: poold listens there itself and any worker may
// answer, so such a probe says nothing about the worker being checked.
// Only literal addresses are compared (no variables, no name lookups).
func checkProbeTargets(ps *problems, k func(string) string, w *Watcher, socks []Socket) {
	targets := []struct{ key, val string }{
		{"ready_address", w.ReadyAddress}, {"ready_url", w.ReadyURL},
		{"health_address", w.HealthAddress}, {"health_url", w.HealthURL},
	}
	for _, t := range targets {
		if t.val == "" || len(variables(t.val)) > 0 || ps.has(k(t.key)) {
			continue
		}
		hostport := t.val
		if strings.HasSuffix(t.key, "_url") {
			u, err := url.Parse(t.val)
			if err != nil {
				continue
			}
			hostport = u.Host
			if u.Port() == "" {
				hostport = net.JoinHostPort(u.Hostname(), "80")
			}
		}
		host, port, err := net.SplitHostPort(hostport)
		if err != nil {
			continue
		}
		for _, s := range socks {
			if s.Family == "unix" || s.Path != "" || s.Port == 0 || strconv.Itoa(s.Port) != port || !sameHost(s.Host, host) {
				continue
			}
			instead := `readiness "notify"`
			if strings.HasPrefix(t.key, "health_") {
				instead = `health_check "exec"`
			}
			ps.add(k(t.key), "%s is socket %q, which poold itself listens on and every worker shares, so a probe there does not tell about this worker; probe an address of the worker's own (e.g. a port built from $(pool.wid)), or use %s", hostport, s.Name, instead)
			break
		}
	}
}

// sameHost reports whether a connection to host reaches a socket bound to
// bound: the same host, "localhost" for a loopback socket, or a local
// address for a socket bound to every interface. Names other than
// localhost are not looked up.
func sameHost(bound, host string) bool {
	if strings.EqualFold(bound, host) {
		return true
	}
	b := net.ParseIP(strings.Trim(bound, "[]"))
	h := net.ParseIP(strings.Trim(host, "[]"))
	switch {
	case b != nil && b.IsUnspecified():
		return isLoopbackHost(host) || h != nil && h.IsUnspecified()
	case strings.EqualFold(host, "localhost"):
		return isLoopbackHost(bound)
	}
	return b != nil && h != nil && b.Equal(h)
}
