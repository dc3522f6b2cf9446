package circusini

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/configs/translate"
)

// circus translates [circus] into [arbiter] and [web].
func (t *translator) circus() {
	arb := t.doc.Section("arbiter")
	s := t.ini.Section("circus")
	if s == nil {
		s = &translate.INISection{Name: "circus", File: t.path}
	}
	arb.From = s // errors about [arbiter] keys name [circus]
	get := func(k string) (string, bool) {
		v, ok := s.Get(k)
		return expandCircusEnv(v, t.global), ok
	}
	for _, k := range []string{"endpoint", "pubsub_endpoint", "stats_endpoint"} {
		v, given := t.endpoint(k)
		if !given {
			arb.Comment("%s: Circus's default, which circusctl and the other Circus tools use", k)
		}
		arb.Set(k, v)
	}
	httpd := circusHTTPD{host: "localhost", port: "8080"}
	for _, o := range s.Options {
		v, _ := get(o.Key)
		if !httpd.take(o.Key, v) {
			t.circusOption(arb, s, o.Key, v)
		}
	}
	if httpd.on {
		web := t.webSection(s)
		web.Set("enabled", true)
		web.Set("address", net.JoinHostPort(httpd.host, httpd.port))
		t.info(web, s, "httpd", "mapped to poold's web console (not circushttpd: its pages and API differ)")
	}
}

// circusHTTPD gathers [circus]'s httpd keys, which map onto [web].
type circusHTTPD struct {
	on         bool
	host, port string
}

// take keeps key's value if it is an httpd key, and says whether it was.
func (h *circusHTTPD) take(key, v string) bool {
	switch key {
	case "httpd":
		b, _ := toBool(v)
		h.on = b == true
	case "httpd_host":
		h.host = v
	case "httpd_port":
		h.port = v
	default:
		return false
	}
	return true
}

// circusOption translates one [circus] key other than the endpoints
// (done first) and httpd's, into [arbiter] or a note.
func (t *translator) circusOption(arb *translate.Section, s *translate.INISection, key, v string) {
	switch key {
	case "endpoint", "pubsub_endpoint", "stats_endpoint", "include", "include_dir":
	case "statsd":
		t.info(arb, s, key, "poold publishes stats on stats_endpoint itself; no circusd-stats process is needed")
	case "check_delay":
		t.info(arb, s, key, "not needed: poold learns of every exit at once instead of polling")
	case "multicast_endpoint":
		if strings.TrimSpace(v) != "" {
			t.warn(arb, s, key, "poold does not announce itself over UDP multicast (circusctl --endpoint finds it); left out")
		}
	case "umask":
		t.umask = v
		t.info(arb, s, key, "applied as the umask of every watcher that sets none (poold has no umask of its own)")
	case "max_processes":
		arb.Set(key, toInt(v))
		t.info(arb, s, key, "a poold extension (Circus ignores it): the ceiling of all watchers' numprocesses together (default 8192)")
	case "allow_remote":
		b, _ := toBool(v)
		arb.Set(key, b)
		t.info(arb, s, key, "a poold extension (Circus ignores it and serves any endpoint): lets endpoint be a tcp address that is not loopback")
	case "loglevel":
		lvl := strings.ToLower(strings.TrimSpace(v))
		switch lvl {
		case "warning":
			lvl = "warn"
		case "critical":
			lvl = "error"
		}
		arb.Set("log_level", lvl)
	case "logoutput":
		if v != "-" && !strings.EqualFold(v, "stdout") && !strings.EqualFold(v, "stderr") {
			t.warn(arb, s, key, fmt.Sprintf("poold logs to its stderr; redirect it to %s (or let systemd's journal take it)", v))
		}
	case "debug":
		if b, _ := toBool(v); b == true {
			if _, set := s.Get("loglevel"); !set {
				arb.Set("log_level", "debug")
			}
		}
	default:
		if t.poolKey(arb, s, "arbiter", key, v) || key != "enabled" && key != "address" && t.poolKey(t.webSection(s), s, "web", key, v) {
			return
		}
		t.warn(arb, s, key, circusNoEquivalent(key))
	}
}

// webSection is [web], whose keys a [circus] section gives (httpd_*,
// and poold's own such as tls_cert and token).
func (t *translator) webSection(s *translate.INISection) *translate.Section {
	web := t.doc.Section("web")
	web.From = s // errors about [web] keys name [circus] and the key
	return web
}

// circusNoEquivalent explains a [circus] key poold has no use for.
func circusNoEquivalent(key string) string {
	switch key {
	case "pidfile":
		return "poold runs in the foreground and writes no pid file; let the service manager track it"
	case "endpoint_owner":
		return "poold's ipc endpoints are owned by poold's user, in a directory only it can enter"
	case "warmup_delay":
		return "poold has no delay between watchers; use depends_on, or warmup_delay in each [watcher:NAME]"
	case "loggerconfig":
		return "poold's logging is set with [arbiter] log_level and log_format"
	case "debug_gc", "fqdn_prefix", "papa_endpoint":
		return "no poold equivalent"
	}
	known := slices.Concat(circusOptions, configs.SectionKeys("arbiter"), configs.SectionKeys("web"))
	return "unknown [circus] option (Circus ignores it too)" + suggest(key, known, nil)
}

// sockets translates each [socket:NAME].
func (t *translator) sockets() {
	for _, s := range t.ini.Sections {
		name, ok := strings.CutPrefix(s.Name, "socket:")
		if !ok || len(s.Options) == 0 {
			continue
		}
		// Circus lower-cases socket (and watcher) names; so does
		// configs.FromTree, after reporting two that differ only in case.
		out := t.doc.Section("sockets", name)
		out.From = s
		vals := map[string]string{}
		for _, o := range s.Options {
			vals[o.Key] = expandCircusEnv(o.Value, t.global)
		}
		for _, o := range s.Options {
			t.socketOption(out, s, o.Key, vals)
		}
		socketDefaults(out, vals)
	}
}

// socketOption translates one key of a [socket:NAME] whose values (with
// Circus's variables expanded) are vals.
func (t *translator) socketOption(out *translate.Section, s *translate.INISection, key string, vals map[string]string) {
	v := vals[key]
	_, unix := vals["path"]
	switch key {
	case "host":
		if !unix {
			out.Set("host", v)
		}
	case "port":
		if !unix {
			out.Set("port", toInt(v))
		}
	case "path":
		out.Set("path", v)
	case "family":
		out.Set("family", socketFamily(v))
	case "type":
		if !strings.EqualFold(strings.TrimSpace(v), "SOCK_STREAM") {
			t.warn(out, s, key, fmt.Sprintf("%s: poold binds stream sockets only: this socket becomes a listening TCP (or unix stream) socket, on which a worker that reads datagrams fails, and datagrams sent to its address reach nothing; let the worker bind its own %s socket, and remove this section and the watchers' $(circus.sockets.%s)", v, v, strings.TrimPrefix(s.Name, "socket:")))
		}
	case "interface":
		where := vals["host"]
		if where == "" {
			where = "localhost"
		}
		t.warn(out, s, key, fmt.Sprintf("poold cannot bind a socket to a device (SO_BINDTODEVICE): it listens on %s on every interface, not only %s; set host to an address of %s instead", where, v, v))
	case "backlog":
		out.Set("backlog", toInt(v))
	case "so_reuseport":
		b, _ := toBool(v)
		out.Set("reuseport", b)
		if b == true {
			t.info(out, s, key, "circusd binds a socket of its own in each worker that names it, each with its own accept queue; poold binds one SO_REUSEPORT socket that all workers share. Either way another process of this user may bind the port too and silently take a share of its connections: drop the key unless a reload must move the socket in place")
		}
	case "umask":
		// Circus reads the umask as a decimal number.
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 && n <= 0o777 {
			out.Set("mode", fmt.Sprintf("%04o", 0o777&^n))
			t.info(out, s, key, fmt.Sprintf("umask %s (read as a decimal number, as Circus does) gives the socket file mode %04o", v, 0o777&^n))
		} else {
			t.warn(out, s, key, fmt.Sprintf("%q is not a umask; left out (poold's default mode is 0660)", v))
		}
	case "replace":
		b, _ := toBool(v)
		out.Set("replace_stale", b)
		if b == true {
			t.info(out, s, key, "poold removes a socket file only when nobody listens on it")
		}
	case "blocking":
		b, _ := toBool(v)
		out.Set("blocking", b)
	default:
		if !t.poolKey(out, s, "sockets", key, v) {
			t.warn(out, s, key, unknownSocketOption(key))
		}
	}
}

// socketFamily maps Circus's family names onto poold's.
func socketFamily(v string) string {
	switch strings.ToUpper(strings.TrimSpace(v)) {
	case "AF_UNIX":
		return "unix"
	case "AF_INET":
		return "tcp4"
	case "AF_INET6":
		return "tcp6"
	}
	return v
}

// circusSocketUmask is the umask circusd binds a unix socket with when
// its section gives none: 8, read as a decimal number like every socket
// umask (0o010), so the socket file is 0767.
const circusSocketUmask = 8

// socketDefaults writes, with a comment each, Circus's defaults where
// they differ from poold's: localhost:8080 for a socket that names no
// address, and for a unix one replace = false and the file mode circusd
// gives it (0767, where poold's default is 0660: clients running as
// another user, such as nginx, could connect under circusd and would be
// refused under poold).
func socketDefaults(out *translate.Section, vals map[string]string) {
	_, hasPath := vals["path"]
	_, hasPort := vals["port"]
	if _, set := vals["blocking"]; !set {
		out.Set("blocking", false)
		out.Comment("blocking: Circus's default (poold's is true): the socket is non-blocking")
	}
	if hasPath {
		if _, set := vals["replace"]; !set {
			out.Comment("replace_stale: poold's default (true) removes a stale socket file; Circus's (replace = false) fails on one")
		}
		_, umask := vals["umask"]
		if _, mode := vals["mode"]; !umask && !mode {
			out.Set("mode", fmt.Sprintf("%04o", 0o777&^circusSocketUmask))
			out.Comment("mode: what circusd makes the file without a umask (its default umask = 8, read as decimal); set umask = 7 in [socket:NAME] (0770) to keep other users out")
		}
		return
	}
	if _, ok := vals["host"]; !ok {
		out.Set("host", "localhost")
		out.Comment("host: Circus's default")
	}
	if !hasPort {
		out.Set("port", int64(8080))
		out.Comment("port: Circus's default")
	}
}

// endpoint is [circus] key k (endpoint, pubsub_endpoint, stats_endpoint),
// or Circus's default when the file gives none.
func (t *translator) endpoint(k string) (v string, given bool) {
	if s := t.ini.Section("circus"); s != nil {
		if v, ok := s.Get(k); ok && strings.TrimSpace(v) != "" {
			return expandCircusEnv(v, t.global), true
		}
	}
	return map[string]string{"endpoint": DefaultEndpoint, "pubsub_endpoint": DefaultPubSubEndpoint, "stats_endpoint": DefaultStatsEndpoint}[k], false
}

// pluginCommand is the circus-plugin command line that runs the plugin of
// section s beside poold: its options go in circus-plugin's own --config
// form, key:value joined by ":::".
func (t *translator) pluginCommand(s *translate.INISection, use string) string {
	var cfg []string
	for _, o := range s.Options {
		if o.Key != "use" {
			cfg = append(cfg, o.Key+":"+expandCircusEnv(o.Value, t.global))
		}
	}
	ep, _ := t.endpoint("endpoint")
	pub, _ := t.endpoint("pubsub_endpoint")
	line := "circus-plugin --endpoint " + ep + " --pubsub " + pub
	if len(cfg) > 0 {
		line += " --config '" + strings.Join(cfg, ":::") + "'"
	}
	return line + " " + use
}

// plugins explains each [plugin:NAME]: Circus's flapping plugin maps onto
// poold's own flapping detection; the others are Python code that runs
// inside circusd.
func (t *translator) plugins() {
	t.flap = map[string]any{}
	for _, s := range t.ini.Sections {
		if !strings.HasPrefix(s.Name, "plugin:") || len(s.Options) == 0 {
			continue
		}
		use, _ := s.Get("use")
		use = strings.TrimSpace(use)
		if use == "circus.plugins.flapping.Flapping" {
			for _, o := range s.Options {
				v := expandCircusEnv(o.Value, t.global)
				switch o.Key {
				case "use":
				case "attempts", "max_retry":
					t.flap["flapping_"+o.Key] = toInt(v)
				case "window", "retry_in":
					t.flap["flapping_"+o.Key] = toDuration(v)
				default:
					t.warn(t.doc.Section("arbiter"), s, o.Key, "no poold equivalent for this flapping option"+suggest(o.Key, flappingOptions, []string{"use"}))
				}
			}
			t.info(t.doc.Section("arbiter"), s, "use", "mapped onto poold's built-in flapping detection (flapping_* of every watcher)")
			continue
		}
		t.warn(t.doc.Section("arbiter"), s, "use", fmt.Sprintf("%s is a Python plugin that runs inside circusd; poold cannot load it. poold speaks Circus's protocol, so run it beside poold with Circus installed, for instance as a watcher whose cmd is: %s", use, t.pluginCommand(s, use)))
	}
}
