package configs

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoadBad loads one bad file per case and checks that every expected
// problem is reported with its file and key.
func TestLoadBad(t *testing.T) {
	tests := []struct {
		file string
		want []string // substrings of err.Error(), each on some line
		n    int      // exact number of problems when > 0
	}{
		{"bad_numprocesses.toml", []string{"configs: testdata/bad_numprocesses.toml:3:1: watchers.web.numprocesses: must be >= 0, got -2"}, 1},
		{"bad_unknown_key.toml", []string{
			`watchers.web.numprocess: unknown key; did you mean "numprocesses"?`,
			`watchers.web.max_retry: unknown key; max_retry is Circus's or supervisord's name: poold's is "flapping_max_retry"`,
			`watchers.web.directory: unknown key; directory is Circus's or supervisord's name: poold's is "working_dir"`,
		}, 3},
		{"bad_circus_only_keys.toml", []string{
			`watchers.web.rlimit_nofile: unknown key; rlimit_nofile is Circus's name: poold's limits are one table, rlimits = { nofile = N } (or "unlimited")`,
			`watchers.web.copy_path: unknown key; copy_path is Circus's (circusd's Python sys.path added to PYTHONPATH) and has no poold equivalent: set PYTHONPATH in env`,
			`watchers.web.shell: unknown key; shell is Circus's and has no poold key: write cmd = "sh" and args = ["-c", "..."], or run the file through poold convert`,
		}, 3},
		{"bad_unknown_section.toml", []string{`watcher: unknown section; did you mean "watchers"?`}, 1},
		{"bad_toplevel_key.toml", []string{"endpoint: unknown top-level key; did you mean arbiter.endpoint"}, 1},
		{"bad_types.toml", []string{
			`arbiter.allow_remote: must be true or false, got string "yes"`,
			"watchers.web.cmd: must be a string, got number 42",
			`watchers.web.numprocesses: must be an integer, got string "four"`,
			"watchers.web.args[1]: must be a string, got number 1",
			`watchers.web.graceful_timeout: must be a duration such as "30s"`,
			"watchers.web.autostart: must be true or false, got number 1",
		}, 0},
		{"bad_empty_cmd.toml", []string{"watchers.web.cmd: missing"}, 1},
		{"bad_ready_min.toml", []string{
			`watchers.a.ready_min: must be a number of ready workers (3) or a share of numprocesses ("75%"), at least 1, or "" for every worker; got number 0`,
			`watchers.b.ready_min: must be a number of ready workers (3) or a share of numprocesses ("75%"), at least 1, or "" for every worker; got "120%"`,
			`watchers.c.ready_min: must be a number`,
		}, 3},
		{"bad_port.toml", []string{"sockets.web.port: must be between 0 and 65535, got 70000"}, 0},
		{"bad_socket_both.toml", []string{"sockets.web: has both path and host/port"}, 1},
		{"bad_socket_none.toml", []string{"sockets.web: needs either port"}, 1},
		{"bad_family.toml", []string{
			"sockets.a.family: is tcp6 but host 127.0.0.1 is an IPv4 address",
			`sockets.b.family: is "unix" but the socket has host/port`,
			`sockets.c.family: must be one of tcp, tcp4, tcp6, unix, got "sctp"`,
		}, 3},
		{"bad_addresses.toml", []string{
			"arbiter.endpoint: ipc endpoint path /run/poold/a-directory-name-long-enough-to-pass-the-unix-socket-path-limit-of-the-linux-kernel-by-some-bytes/control.sock is 121 bytes long, the limit is 107",
			"sockets.long.path: path /run/poold/a-directory-name-long-enough-to-pass-the-unix-socket-path-limit-of-the-linux-kernel-by-some-bytes/web.sock is 117 bytes long",
			`sockets.octet.host: "300.1.1.1" is not an IP address (an IPv4 address is four numbers from 0 to 255)`,
			`sockets.spaced.host: "my host" is neither an IP address nor a host name`,
		}, 4},
		{"bad_backlog.toml", []string{"sockets.web.backlog: must be >= 1, got 0"}, 1},
		{"bad_socket_ref.toml", []string{
			`watchers.app.sockets[1]: unknown socket "api"; defined sockets: web`,
			`watchers.app.args[1]: refers to unknown socket "admin"`,
			`watchers.app.env[0]: refers to unknown socket "metrics"`,
		}, 3},
		{"bad_env.toml", []string{
			`watchers.app.env[0]: must be "KEY=VALUE", got "NOEQUALS"`,
			`watchers.app.env[1]: has an empty KEY in "=value"`,
			`watchers.app.env[4]: sets OK again ("OK=3", after "OK=1" at env[2]), so one value would silently replace the other; keep one`,
			`watchers.app.env[5]: repeats "Ok=2" (env[3]); keep one`,
		}, 4},
		{"bad_env_table.toml", []string{`watchers.app.env: must be a list of "KEY=VALUE" strings`}, 1},
		{"bad_rlimit.toml", []string{
			`watchers.app.rlimits.files: unknown resource limit "files"; valid: as, core`,
			`watchers.app.rlimits.nproc: must be a non-negative integer or "unlimited", got number -1`,
			`watchers.app.rlimits.as: must be a non-negative integer or "unlimited" (rlimits take no units: write 536870912 for "512M"), got string "512M"`,
		}, 3},
		{"bad_nul_values.toml", []string{
			`watchers.nul.cmd: contains a NUL byte (\x00), which no command line, environment entry or path can carry; remove it`,
			"watchers.nul.args[1]: contains a NUL byte",
			"watchers.nul.env[0]: contains a NUL byte",
		}, 3},
		{"bad_signal.toml", []string{`watchers.app.stop_signal: must be a signal name such as "TERM"`, `got string "TERMINATE"`}, 1},
		{"bad_duration.toml", []string{
			`arbiter.stats_interval: must be a positive duration, got string "0s"`,
			`watchers.app.warmup_delay: must not be negative, got string "-1s"`,
			"watchers.app.backoff_min: (1m0s) must not exceed backoff_max (10s)",
		}, 3},
		{"bad_stats_interval.toml", []string{`arbiter.stats_interval: must be at least 100ms, got 1ns: each sample reads every worker's /proc files`}, 1},
		{"bad_log.toml", []string{
			`arbiter.log_level: must be one of trace, debug, info, warn, error, got "verbose"`,
			`arbiter.log_format: must be one of text, json, got "xml"`,
		}, 2},
		{"bad_name.toml", []string{`watchers.my app: bad name "my app"`}, 1},
		{"bad_number.json", []string{`bad_number.json:1:68: number 1e400 is out of range`}, 1},
		// A NUL byte is quoted, never written raw to the terminal.
		{"bad_nul.toml", []string{`bad_nul.toml:3:1: syntax error: toml: invalid character at start of key: \x00`}, 1},
		{"bad_metrics_address.toml", []string{
			`arbiter.event_history: must be`,
			`web.metrics_address: must be "HOST:PORT" such as "127.0.0.1:9100", got "9100"`,
		}, 2},
		{"bad_same_address.toml", []string{
			"sockets.b: has the same address (127.0.0.1:8000) as sockets.a",
			"sockets.d: has the same address (/tmp/poold-test.sock) as sockets.c",
		}, 2},
		{"bad_user.toml", []string{
			"watchers.app.uid: uid 4294967295 is out of range: ids go from 0 to 4294967294; use a smaller number or a name",
			"watchers.app.gid: gid 99999999999999999999999 is out of range",
		}, 2}, // a missing user, group or working_dir is a machine fact, as for programs: launch.Check (hostfacts_test.go)
		{"bad_remote.toml", []string{
			"arbiter.endpoint: tcp://0.0.0.0:5555 is refused: it is not a loopback address and the control protocol has no authentication",
			"allow_remote = true",
			`web.address: "0.0.0.0:8080" is not a loopback address: the console and its control API need TLS`,
		}, 2},
		{"bad_endpoint.toml", []string{
			`arbiter.endpoint: must use ipc:// or tcp://, got "http://localhost:5555"`,
			"arbiter.pubsub_endpoint: tcp endpoint port must be between 1 and 65535",
		}, 2},
		{"bad_umask.toml", []string{`watchers.app.umask: must be an octal string between "000" and "777"`}, 1},
		{"bad_variable.toml", []string{`watchers.app.args[1]: unknown variable "widd"`}, 1},
		{"bad_syntax.toml", []string{"configs: testdata/bad_syntax.toml:3:16: syntax error"}, 1},
		// go-toml reports these without a position.
		{"bad_dup_key.toml", []string{"configs: testdata/bad_dup_key.toml:7:3: watchers.web.numprocesses: key numprocesses is given again here (first at line 6, column 1); a key may be set once in a table: remove one or merge them"}, 1},
		{"bad_dup_table.toml", []string{"configs: testdata/bad_dup_table.toml:7:2: arbiter: table [arbiter] is given again here (first at line 1, column 2); a table may be opened once: merge the two sections"}, 1},
		{"bad_dup_kind.toml", []string{"configs: testdata/bad_dup_kind.toml:4:2: watchers.web: syntax error: toml: key web should be a table, not a value"}, 1},
		{"bad_syntax.yaml", []string{"configs: testdata/bad_syntax.yaml:4: syntax error"}, 1},
		// yaml.v3 names the line where the broken block begins (1), not the
		// line at fault (4): said so, and not given as the error's line.
		{"bad_yaml_indent.yaml", []string{"configs: testdata/bad_yaml_indent.yaml: syntax error in the block that begins at line 1: did not find expected key; the fault is on that line or below it"}, 1},
		{"bad_syntax.json", []string{"configs: testdata/bad_syntax.json:3:31: syntax error: invalid character '}'"}, 1},
		{"bad_many.yaml", []string{
			`arbiter.log_level: must be one of trace, debug, info, warn, error, got "loud"`,
			"sockets.web.port: must be between 0 and 65535, got -1",
			"watchers.web.numprocesses: must be >= 0, got -2",
			`watchers.web.sockets[0]: unknown socket "nope"`,
			"watchers.web.stop_signal: signal 99 is out of range: signals are 1 to 64",
			`watchers.web.colour: unknown key; valid keys: args, autostart`,
			"watchers.web.cmd: missing",
		}, 7},
		{"bad_types.json", []string{
			`web.enabled: must be true or false, got string "true"`,
			"watchers.app.numprocesses: must be an integer, got number 1.5",
			"watchers.app.rlimits: must be a table of resource name to limit",
			`sockets.web.hots: unknown key; did you mean "host"?`,
		}, 4},
		{"bad_case_names.toml", []string{
			`sockets.web: is spelled "Web" and "web": names and keys are case-insensitive`,
			`watchers.a: is spelled "A" and "a": names and keys are case-insensitive, so one would silently replace the other; rename or merge them`,
		}, 2},
		{"bad_case_names.yaml", []string{
			`sockets.web: is spelled "Web" and "web"`,
			`watchers.a: is spelled "A" and "a"`,
			`watchers.a.numprocesses: is spelled "NumProcesses" and "numprocesses"`,
		}, 3},
		{"bad_case_names.json", []string{
			`configs: testdata/bad_case_names.json:2:15: sockets.web: is spelled "Web" and "web"`,
			`watchers.a: is spelled "A" and "a"`,
			`watchers.b: is spelled "B" and "b"`,
			`watchers: is spelled "Watchers" and "watchers"`,
		}, 4},
		// encoding/json keeps the last of two equal keys; TOML and YAML
		// refuse them, and so does Load.
		{"bad_duplicate_keys.json", []string{
			`configs: testdata/bad_duplicate_keys.json:2:65: watchers.a.numprocesses: key "numprocesses" is given again here (first at line 2, column 46): JSON keeps only the last, silently dropping the first; remove one or merge them`,
			`bad_duplicate_keys.json:3:70: watchers.a.rlimits.nofile: key "nofile" is given again here (first at line 3, column 56)`,
			`bad_duplicate_keys.json:5:2: watchers: key "watchers" is given again here (first at line 2, column 2)`,
			`bad_duplicate_keys.json:5:76: watchers.b.args[1].a\": key "a\\\"" is given again here (first at line 5, column 64)`,
			`bad_duplicate_keys.json:5:63: watchers.b.args[1]: must be a string, got a table`,
		}, 5},
		// Each pair used to pass, and poold then failed to bind the second.
		{"bad_listen_overlap.toml", []string{
			"web.address: has the same address (127.0.0.1:22151) as arbiter.endpoint; give each its own address",
			"web.metrics_address: has the same address (127.0.0.1:22152) as arbiter.pubsub_endpoint",
			"sockets.b: its address 0.0.0.0:22110 meets sockets.a's 127.0.0.1:22110 (0.0.0.0 is every IPv4 address), and poold cannot listen on both; give each its own port",
			"sockets.c: its address localhost:22110 meets sockets.a's 127.0.0.1:22110 (localhost is 127.0.0.1)",
			"sockets.d: its address [::1]:22153 meets arbiter.stats_endpoint's *:22153 (* is every address, IPv4 and IPv6)",
			"sockets.e: has the same address (127.0.0.1:22151) as arbiter.endpoint",
			"sockets.g: its address [::1]:22110 meets sockets.f's [::]:22110 (:: is every IPv6 address)",
			"sockets.i: has the same address (/tmp/poold-k-x.sock) as sockets.h",
		}, 8},
		// r59b net M1: "::" is dual-stack unless told or paired with IPv4.
		{"bad_listen_dualstack.toml", []string{
			`sockets.any: its address [::]:22170 meets web.address's 127.0.0.1:22170 (:: is every address, IPv4 and IPv6), and poold cannot listen on both; give each its own port, or set bind_ipv6_only = "ipv6-only" in sockets.any (IPv6 only)`,
			`sockets.v4: its address 0.0.0.0:22171 meets sockets.both's [::]:22171 (0.0.0.0 is every IPv4 address; :: is every address, IPv4 and IPv6), and poold cannot listen on both; give each its own port, or set bind_ipv6_only = "ipv6-only" in sockets.both (IPv6 only)`,
			`sockets.badvalue.bind_ipv6_only: must be "both" (IPv4 too, dual-stack) or "ipv6-only", got "yes"`,
			`sockets.notwild.bind_ipv6_only: applies to a socket on host "::" only (whether it takes IPv4 too); host is "::1": drop the key`,
		}, 4},
		{"bad_listen_web.toml", []string{
			"web.metrics_address: its address localhost:22160 meets web.address's 127.0.0.1:22160 (localhost is 127.0.0.1)",
		}, 1},
		{"bad_cmd_split.toml", []string{
			`watchers.a.cmd: command has an unterminated ' quote (got "/opt/my app/bin/server 'oops"): cmd is split into words like a shell: quote a path that contains spaces, and escape a literal quote or backslash with \`,
			`watchers.b.cmd: command ends with a lone backslash (got "server --flag \\")`,
			`watchers.c.health_cmd: command has an unterminated " quote (got "check \"--pid $POOLD_PID"): health_cmd is split into words like a shell`,
			`watchers.d.cmd: the program name (the first word) is empty (got "'' --x")`,
		}, 4},
		{"bad_ceilings.toml", []string{
			"watchers.big.numprocesses: 100000 is over max_processes 1024; raise watchers.big.max_processes if the machine can take that many workers",
			"watchers.b.max_processes: must be >= 1, got 0",
			"arbiter.max_processes: the watchers ask for 100120 workers together, over arbiter.max_processes 100; lower numprocesses or raise arbiter.max_processes",
		}, 3},
		{"bad_readiness.toml", []string{`watchers.app.readiness: must be one of spawn, delay, notify, tcp, http, got "ready"`}, 1},
		{"bad_ready_missing.toml", []string{
			`watchers.a.ready_address: missing: readiness "tcp" needs the address to connect to`,
			`watchers.b.ready_url: missing: readiness "http" needs the URL to fetch`,
		}, 2},
		{"bad_ready_address.toml", []string{
			`watchers.app.ready_address: must be "HOST:PORT" such as "127.0.0.1:8000", got "localhost"`,
			`watchers.app.health_address: must be "HOST:PORT" such as "127.0.0.1:8000", got "$(pool.env.ADDR)"`,
			`watchers.app.ready_url: must be an http:// URL such as "http://127.0.0.1:8000/healthz", got "https://127.0.0.1:8000/ready"`,
			`watchers.port.ready_address: port must be a number between 1 and 65535, got "127.0.0.1:0"`,
			`watchers.port.ready_url: must be an http:// URL such as "http://127.0.0.1:8000/healthz", got "http:///ready"`,
		}, 5}, // health_url "http://$(pool.wid)" has the right shape
		{"bad_ready_delay.toml", []string{
			"watchers.app.ready_delay: (2m0s) must be shorter than ready_timeout (1m0s), or every start would time out",
			"watchers.zero.ready_timeout: must be a positive duration, got 0s",
		}, 2},
		{"bad_health.toml", []string{`watchers.app.health_check: must be one of http, tcp, exec, or "" for none, got "ping"`}, 1},
		{"bad_health_missing.toml", []string{
			`watchers.a.health_url: missing: health_check "http" needs the URL to fetch`,
			`watchers.b.health_address: missing: health_check "tcp" needs the address to connect to`,
			`watchers.c.health_cmd: missing: health_check "exec" needs the command to run`,
		}, 3},
		{"bad_thresholds.toml", []string{
			`watchers.app.max_surge: must be a number of workers >= 1 or a share of numprocesses such as "25%", got 0`,
			"watchers.app.health_threshold: must be >= 1, got 0",
			"watchers.app.limit_threshold: must be >= 1, got -1",
			"watchers.app.flapping_attempts: must be >= 0, got -1",
			"watchers.app.flapping_max_retry: must be >= -1, got -2",
		}, 5},
		{"bad_probe_durations.toml", []string{
			`watchers.app.health_interval: must be a positive duration, got string "0s"`,
			`watchers.app.health_timeout: must be a positive duration, got string "-1s"`,
			`watchers.app.max_age: must not be negative, got string "-1h"`,
			`watchers.app.max_age_variance: must be a duration such as "30s"`,
			"watchers.app.flapping_window: must be a positive duration while flapping_attempts is 5 (set flapping_attempts = 0 to turn flapping detection off), got 0s",
		}, 5}, // watchers.off: no detection, so a zero window is fine
		{"bad_limits.toml", []string{
			`watchers.app.max_rss: must be a size in bytes, or a string with a K, M, G or T suffix (binary units) such as "512M", got string "512X"`,
			"watchers.app.max_cpu: must be >= 0 (0 = no limit), got -5",
			"watchers.b.max_rss: must be a size in bytes, or a string with a K, M, G or T suffix (binary units) such as \"512M\", got number -1",
			`watchers.b.max_cpu: must be a percentage of one core such as 150 or "150%", got string "fast"`,
		}, 4},
		{"bad_cgroup_limits.toml", []string{
			`watchers.app.memory_max: must be a size in bytes, or a string with a K, M, G or T suffix (binary units) such as "512M", got string "lots"`,
			"watchers.app.pids_max: must be >= 0, got -3",
			"watchers.app.cpu_max: must be 0 (no limit) or at least 1 (percent of one core), got 0.5",
			"watchers.b.memory_max: must be a size in bytes, or a string with a K, M, G or T suffix (binary units) such as \"512M\", got number -1",
			`watchers.b.cpu_max: must be a percentage of one core such as 150 or "150%", got string "fast"`,
			// Past the kernel's largest quota, cpu_max = 1e308 became 1 % of a
			// core (the quota wrapped negative, then was raised to 1000 µs).
			"watchers.c.pids_max: must be at most 4194304, the most pids.max takes (the kernel's PID_MAX_LIMIT), got 4194305; use 0 for no limit",
			"watchers.c.cpu_max: must be at most 17592186044 (percent of one core: the largest CPU quota the kernel takes, 2^44-1 µs per 100 ms period), got 1e+308; use 0 for no limit",
			"watchers.d.cpu_max: must be at most 17592186044 (percent of one core: the largest CPU quota the kernel takes, 2^44-1 µs per 100 ms period), got 1.7592186045e+10; use 0 for no limit",
			// r58b: memory_max = 512 (meant as MiB) OOM-killed poold on cgroup v1.
			`watchers.e.memory_max: must be 0 (no limit) or at least 1048576 bytes ("1M"): no worker starts in less, got 512 bytes; a plain number is bytes: for 512 MiB write "512M"`,
			`watchers.f.memory_max: must be 0 (no limit) or at least 1048576 bytes ("1M"): no worker starts in less, got 131072 bytes; write a size such as "512M"`,
			`watchers.g.memory_max: size "99999999T" is too large: a size holds at most 2^64-1 bytes (16 EiB); use a smaller size, or 0 for no limit`,
		}, 11},
		{"bad_depends_unknown.toml", []string{
			`watchers.app.depends_on[1]: watcher "app" cannot depend on itself; remove it`,
			`watchers.app.depends_on[2]: unknown watcher "cache"; defined watchers: db`,
			`watchers.app.depends_on[3]: watcher "DB" is listed twice`,
		}, 3},
		{"bad_depends_cycle.toml", []string{
			"watchers.a.depends_on: cycle a -> b -> a: remove one of these dependencies",
			"watchers.c.depends_on: cycle c -> d -> e -> c",
		}, 2},
		{"bad_depends_types.yaml", []string{
			`watchers.app.depends_on: must be a list of strings, got string "db"`,
			`watchers.app.max_surge: must be a number of workers >= 1 or a share of numprocesses such as "25%", got number 1.5`,
			`watchers.app.send_hup: must be true or false, got string "yes"`,
		}, 3},
		{"bad_probe_variable.toml", []string{
			`watchers.app.ready_url: unknown variable "port"; known: name, uid, wid, working_dir, sockets.NAME, env.KEY`,
			`watchers.app.health_cmd: refers to unknown socket "admin" through $(pool.sockets.admin); defined sockets: web`,
		}, 2},
		{"bad_probe_shared.toml", []string{
			`watchers.app.ready_address: localhost:8000 is socket "web", which poold itself listens on and every worker shares`,
			`or use readiness "notify"`,
			`watchers.app.health_url: 127.0.0.1:8001 is socket "all"`,
			`or use health_check "exec"`,
		}, 2},
		{"bad.ini", []string{`configs: testdata/bad.ini: unsupported file extension ".ini": name the file .toml, .yaml, .yml or .json`}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join("testdata", tt.file)
			cfg, err := Load(path)
			if err == nil {
				t.Fatalf("Load(%s) = %+v, want an error", path, cfg)
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("Load(%s) error %T %v, want *Error", path, err, err)
			}
			if ce.File != path {
				t.Errorf("Error.File = %q, want %q", ce.File, path)
			}
			msg := err.Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error does not contain %q; got:\n%s", w, msg)
				}
			}
			if tt.n > 0 && len(ce.Problems) != tt.n {
				t.Errorf("got %d problems, want %d:\n%s", len(ce.Problems), tt.n, msg)
			}
			if lines := strings.Count(msg, "\n") + 1; lines != len(ce.Problems) {
				t.Errorf("Error() has %d lines for %d problems", lines, len(ce.Problems))
			}
			for _, line := range strings.Split(msg, "\n") {
				if !strings.HasPrefix(line, "configs: "+path) {
					t.Errorf("line %q does not start with the file", line)
				}
			}
		})
	}
}
