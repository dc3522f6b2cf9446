package circusini

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/poold/poold/configs/translate"
)

// circus translates [circus] into [arbiter] and [web].
func (t *translator) circus() {
	arb := t.doc.Section("arbiter")
	eps := map[string]string{"endpoint": DefaultEndpoint, "pubsub_endpoint": DefaultPubSubEndpoint, "stats_endpoint": DefaultStatsEndpoint}
	s := t.ini.Section("circus")
	if s == nil {
		s = &translate.INISection{Name: "circus", File: t.path}
	}
	get := func(k string) (string, bool) {
		v, ok := s.Get(k)
		return expandCircusEnv(v, t.global), ok
	}
	for _, k := range []string{"endpoint", "pubsub_endpoint", "stats_endpoint"} {
		v, ok := get(k)
		if !ok || v == "" {
			v = eps[k]
			arb.Comment("%s: Circus's default, which circusctl and the other Circus tools use", k)
		}
		arb.Set(k, v)
	}
	httpd := false
	host, port := "localhost", "8080"
	for _, o := range s.Options {
		v, _ := get(o.Key)
		switch o.Key {
		case "endpoint", "pubsub_endpoint", "stats_endpoint", "include", "include_dir":
		case "statsd":
			t.info(arb, s, o.Key, "poold publishes stats on stats_endpoint itself; no circusd-stats process is needed")
		case "check_delay":
			t.info(arb, s, o.Key, "not needed: poold learns of every exit at once instead of polling")
		case "multicast_endpoint":
			if strings.TrimSpace(v) != "" {
				t.warn(arb, s, o.Key, "poold does not announce itself over UDP multicast (circusctl --endpoint finds it); left out")
			}
		case "umask":
			t.umask = v
			t.info(arb, s, o.Key, "applied as the umask of every watcher that sets none (poold has no umask of its own)")
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
				t.warn(arb, s, o.Key, fmt.Sprintf("poold logs to its stderr; redirect it to %s (or let systemd's journal take it)", v))
			}
		case "debug":
			if b, _ := toBool(v); b == true {
				if _, set := s.Get("loglevel"); !set {
					arb.Set("log_level", "debug")
				}
			}
		case "httpd":
			b, _ := toBool(v)
			httpd = b == true
		case "httpd_host":
			host = v
		case "httpd_port":
			port = v
		default:
			t.warn(arb, s, o.Key, circusNoEquivalent(o.Key))
		}
	}
	if httpd {
		web := t.doc.Section("web")
		web.Set("enabled", true)
		web.Set("address", net.JoinHostPort(host, port))
		t.info(web, s, "httpd", "mapped to poold's web console (not circushttpd: its pages and API differ)")
	}
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
	return "unknown [circus] option (Circus ignores it too)"
}

// sockets translates each [socket:NAME].
func (t *translator) sockets() {
	for _, s := range t.ini.Sections {
		name, ok := strings.CutPrefix(s.Name, "socket:")
		if !ok || len(s.Options) == 0 {
			continue
		}
		// Circus lower-cases socket names.
		out := t.doc.Section("sockets", strings.ToLower(name))
		vals := map[string]string{}
		for _, o := range s.Options {
			vals[o.Key] = expandCircusEnv(o.Value, t.global)
		}
		for _, o := range s.Options {
			v := vals[o.Key]
			switch o.Key {
			case "host":
				if _, unix := vals["path"]; !unix {
					out.Set("host", v)
				}
			case "port":
				if _, unix := vals["path"]; !unix {
					out.Set("port", toInt(v))
				}
			case "path":
				out.Set("path", v)
			case "family":
				switch strings.ToUpper(strings.TrimSpace(v)) {
				case "AF_UNIX":
					out.Set("family", "unix")
				case "AF_INET":
					out.Set("family", "tcp4")
				case "AF_INET6":
					out.Set("family", "tcp6")
				default:
					out.Set("family", v)
				}
			case "type":
				if !strings.EqualFold(strings.TrimSpace(v), "SOCK_STREAM") {
					t.warn(out, s, o.Key, fmt.Sprintf("%s: poold binds stream sockets only; left out", v))
				}
			case "backlog":
				out.Set("backlog", toInt(v))
			case "so_reuseport":
				b, _ := toBool(v)
				out.Set("reuseport", b)
			case "umask":
				// Circus reads the umask as a decimal number.
				if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 && n <= 0o777 {
					out.Set("mode", fmt.Sprintf("%04o", 0o777&^n))
					t.info(out, s, o.Key, fmt.Sprintf("umask %s (read as a decimal number, as Circus does) gives the socket file mode %04o", v, 0o777&^n))
				} else {
					t.warn(out, s, o.Key, fmt.Sprintf("%q is not a umask; left out (poold's default mode is 0660)", v))
				}
			case "replace":
				b, _ := toBool(v)
				out.Set("replace_stale", b)
				if b == true {
					t.info(out, s, o.Key, "poold removes a socket file only when nobody listens on it")
				}
			case "blocking":
				t.info(out, s, o.Key, "workers get the socket as it is bound; set blocking mode in the worker")
			default:
				t.warn(out, s, o.Key, "no poold equivalent for this [socket:NAME] option")
			}
		}
		_, hasPath := vals["path"]
		_, hasPort := vals["port"]
		if !hasPath {
			if _, ok := vals["host"]; !ok {
				out.Set("host", "localhost")
				out.Comment("host: Circus's default")
			}
			if !hasPort {
				out.Set("port", int64(8080))
				out.Comment("port: Circus's default")
			}
		} else if _, set := vals["replace"]; !set {
			out.Comment("replace_stale: poold's default (true) removes a stale socket file; Circus's (replace = false) fails on one")
		}
	}
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
					t.warn(t.doc.Section("arbiter"), s, o.Key, "no poold equivalent for this flapping option")
				}
			}
			t.info(t.doc.Section("arbiter"), s, "use", "mapped onto poold's built-in flapping detection (flapping_* of every watcher)")
			continue
		}
		t.warn(t.doc.Section("arbiter"), s, "use", fmt.Sprintf("%s is a Python plugin that runs inside circusd; poold cannot load it. poold speaks Circus's protocol, so run it beside poold with Circus installed: circus-plugin --endpoint ENDPOINT --pubsub PUBSUB_ENDPOINT --config key=value ... %s (as a [watchers.NAME] whose cmd is that line)", use, use))
	}
}
