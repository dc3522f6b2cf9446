package configs

import (
	"fmt"
	"math"
	"os"
	"time"
)

// envValue is a raw value taken from a POOLD_* environment variable: text
// parsed as whatever type its key expects.
type envValue struct {
	name string // the variable, for error messages
	text string
}

// decoder turns raw values (from a file via viper, from the environment, or
// from JSON control-protocol options) into typed fields, collecting every
// problem instead of stopping at the first.
type decoder struct {
	ps *problems
	// fromFile: keys of maps were lower-cased by the reader, so an env table
	// is refused; options (JSON) may give env as an object.
	fromFile bool
}

// bad records a problem about raw at key, naming the environment variable
// when the value came from one.
func (d *decoder) bad(key string, raw any, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if ev, ok := raw.(envValue); ok {
		msg += " (from environment variable " + ev.name + ")"
	}
	d.ps.list = append(d.ps.list, Problem{Key: key, Msg: msg})
}

var arbiterFields = []field[Arbiter]{
	stringField("endpoint", func(a *Arbiter) *string { return &a.Endpoint }),
	stringField("pubsub_endpoint", func(a *Arbiter) *string { return &a.PubSubEndpoint }),
	stringField("stats_endpoint", func(a *Arbiter) *string { return &a.StatsEndpoint }),
	durationField("stats_interval", func(a *Arbiter) *time.Duration { return &a.StatsInterval }, true),
	intField("max_processes", func(a *Arbiter) *int { return &a.MaxProcesses }, 1, math.MaxInt32),
	boolField("allow_remote", func(a *Arbiter) *bool { return &a.AllowRemote }),
	listField("control_allow", func(a *Arbiter) *[]string { return &a.ControlAllow }),
	listField("control_read_only", func(a *Arbiter) *[]string { return &a.ControlReadOnly }),
	stringField("log_level", func(a *Arbiter) *string { return &a.LogLevel }),
	stringField("log_format", func(a *Arbiter) *string { return &a.LogFormat }),
	intField("event_history", func(a *Arbiter) *int { return &a.EventHistory }, 0, 1<<20),
	durationField("stuck_after", func(a *Arbiter) *time.Duration { return &a.StuckAfter }, true),
}

var webFields = []field[Web]{
	boolField("enabled", func(w *Web) *bool { return &w.Enabled }),
	stringField("address", func(w *Web) *string { return &w.Address }),
	stringField("token", func(w *Web) *string { return &w.Token }),
	boolField("read_only", func(w *Web) *bool { return &w.ReadOnly }),
	stringField("metrics_address", func(w *Web) *string { return &w.MetricsAddress }),
	stringField("tls_cert", func(w *Web) *string { return &w.TLSCert }),
	stringField("tls_key", func(w *Web) *string { return &w.TLSKey }),
	listField("api_tokens", func(w *Web) *[]string { return &w.APITokens }),
}

var socketFields = []field[Socket]{
	stringField("family", func(s *Socket) *string { return &s.Family }),
	stringField("host", func(s *Socket) *string { return &s.Host }),
	intField("port", func(s *Socket) *int { return &s.Port }, 0, 65535),
	stringField("path", func(s *Socket) *string { return &s.Path }),
	intField("backlog", func(s *Socket) *int { return &s.Backlog }, 1, math.MaxInt32),
	boolField("reuseport", func(s *Socket) *bool { return &s.ReusePort }),
	stringField("bind_ipv6_only", func(s *Socket) *string { return &s.BindIPv6Only }),
	{key: "mode",
		decode: func(d *decoder, k string, raw any, dst *Socket) {
			if m, ok := d.octal(k, raw, false); ok {
				dst.Mode = os.FileMode(m)
			}
		},
		wire: func(s *Socket) any { return fmt.Sprintf("%04o", uint32(s.Mode.Perm())) },
	},
	stringField("owner", func(s *Socket) *string { return &s.Owner }),
	stringField("group", func(s *Socket) *string { return &s.Group }),
	boolField("replace_stale", func(s *Socket) *bool { return &s.ReplaceStale }),
	{key: "blocking",
		decode: func(d *decoder, k string, raw any, dst *Socket) {
			if b, ok := d.boolean(k, raw); ok {
				dst.NonBlocking = !b
			}
		},
		wire: func(s *Socket) any { return !s.NonBlocking },
	},
}

// watcherFields are the keys of a [watchers.NAME] section, which are also
// the control protocol's option names.
var watcherFields = []field[Watcher]{
	stringField("cmd", func(w *Watcher) *string { return &w.Cmd }),
	listField("args", func(w *Watcher) *[]string { return &w.Args }),
	intField("numprocesses", func(w *Watcher) *int { return &w.NumProcesses }, 0, math.MaxInt32),
	intField("max_processes", func(w *Watcher) *int { return &w.MaxProcesses }, 1, math.MaxInt32),
	boolField("singleton", func(w *Watcher) *bool { return &w.Singleton }),
	{key: "env", list: true,
		decode: func(d *decoder, k string, raw any, w *Watcher) {
			if l, ok := d.envList(k, raw); ok {
				w.Env = emptyNil(l)
			}
		},
		wire: func(w *Watcher) any { return nonNil(w.Env) },
	},
	boolField("copy_env", func(w *Watcher) *bool { return &w.CopyEnv }),
	stringField("working_dir", func(w *Watcher) *string { return &w.WorkingDir }),
	{key: "uid",
		decode: func(d *decoder, k string, raw any, w *Watcher) {
			if s, ok := d.idString(k, raw); ok {
				w.UID = s
			}
		},
		wire: func(w *Watcher) any { return w.UID },
	},
	{key: "gid",
		decode: func(d *decoder, k string, raw any, w *Watcher) {
			if s, ok := d.idString(k, raw); ok {
				w.GID = s
			}
		},
		wire: func(w *Watcher) any { return w.GID },
	},
	{key: "umask",
		decode: func(d *decoder, k string, raw any, w *Watcher) {
			if m, ok := d.octal(k, raw, true); ok {
				w.Umask = int(m)
			}
		},
		wire: func(w *Watcher) any {
			if w.Umask < 0 {
				return ""
			}
			return fmt.Sprintf("%03o", w.Umask)
		},
	},
	{key: "rlimits",
		decode: func(d *decoder, k string, raw any, w *Watcher) {
			if m, ok := d.rlimits(k, raw); ok && len(m) > 0 {
				w.Rlimits = m
			} else if ok {
				w.Rlimits = nil
			}
		},
		wire: func(w *Watcher) any {
			out := make(map[string]any, len(w.Rlimits))
			for name, v := range w.Rlimits {
				if v == RlimitUnlimited {
					out[name] = "unlimited"
				} else {
					out[name] = v
				}
			}
			return out
		},
	},
	{key: "stop_signal",
		decode: func(d *decoder, k string, raw any, w *Watcher) {
			if sig, ok := d.signal(k, raw); ok {
				w.StopSignal = sig
			}
		},
		wire: func(w *Watcher) any { return SignalName(w.StopSignal) },
	},
	boolField("stop_children", func(w *Watcher) *bool { return &w.StopChildren }),
	durationField("graceful_timeout", func(w *Watcher) *time.Duration { return &w.GracefulTimeout }, false),
	durationField("warmup_delay", func(w *Watcher) *time.Duration { return &w.WarmupDelay }, false),
	intField("priority", func(w *Watcher) *int { return &w.Priority }, math.MinInt32, math.MaxInt32),
	boolField("autostart", func(w *Watcher) *bool { return &w.Autostart }),
	{key: "required_for_readiness",
		decode: func(d *decoder, k string, raw any, w *Watcher) {
			if b, ok := d.boolean(k, raw); ok {
				w.ReadinessOptional = !b
			}
		},
		wire: func(w *Watcher) any { return !w.ReadinessOptional },
	},
	readyMinField,
	boolField("respawn", func(w *Watcher) *bool { return &w.Respawn }),
	stringField("failure_action", func(w *Watcher) *string { return &w.FailureAction }),
	exitCodesField("no_respawn_exit_codes", func(w *Watcher) *[]int { return &w.NoRespawnExitCodes }),
	listField("sockets", func(w *Watcher) *[]string { return &w.Sockets }),
	boolField("use_sockets", func(w *Watcher) *bool { return &w.UseSockets }),
	durationField("backoff_min", func(w *Watcher) *time.Duration { return &w.BackoffMin }, true),
	durationField("backoff_max", func(w *Watcher) *time.Duration { return &w.BackoffMax }, true),
	durationField("backoff_reset", func(w *Watcher) *time.Duration { return &w.BackoffReset }, true),

	stringField("readiness", func(w *Watcher) *string { return &w.Readiness }),
	durationField("ready_delay", func(w *Watcher) *time.Duration { return &w.ReadyDelay }, false),
	durationField("ready_timeout", func(w *Watcher) *time.Duration { return &w.ReadyTimeout }, true),
	stringField("ready_address", func(w *Watcher) *string { return &w.ReadyAddress }),
	stringField("ready_url", func(w *Watcher) *string { return &w.ReadyURL }),
	surgeField("max_surge", func(w *Watcher) *Surge { return &w.MaxSurge }),
	boolField("send_hup", func(w *Watcher) *bool { return &w.SendHUP }),
	durationField("max_age", func(w *Watcher) *time.Duration { return &w.MaxAge }, false),
	durationField("max_age_variance", func(w *Watcher) *time.Duration { return &w.MaxAgeVariance }, false),

	intField("flapping_attempts", func(w *Watcher) *int { return &w.FlappingAttempts }, 0, math.MaxInt32),
	durationField("flapping_window", func(w *Watcher) *time.Duration { return &w.FlappingWindow }, false),
	durationField("flapping_retry_in", func(w *Watcher) *time.Duration { return &w.FlappingRetryIn }, false),
	intField("flapping_max_retry", func(w *Watcher) *int { return &w.FlappingMaxRetry }, -1, math.MaxInt32),

	stringField("health_check", func(w *Watcher) *string { return &w.HealthCheck }),
	stringField("health_url", func(w *Watcher) *string { return &w.HealthURL }),
	stringField("health_address", func(w *Watcher) *string { return &w.HealthAddress }),
	stringField("health_cmd", func(w *Watcher) *string { return &w.HealthCmd }),
	durationField("health_interval", func(w *Watcher) *time.Duration { return &w.HealthInterval }, true),
	durationField("health_timeout", func(w *Watcher) *time.Duration { return &w.HealthTimeout }, true),
	intField("health_threshold", func(w *Watcher) *int { return &w.HealthThreshold }, 1, math.MaxInt32),

	{key: "max_rss",
		decode: func(d *decoder, k string, raw any, w *Watcher) {
			if n, ok := d.size(k, raw); ok {
				w.MaxRSS = n
			}
		},
		wire: func(w *Watcher) any { return w.MaxRSS },
	},
	{key: "max_cpu",
		decode: func(d *decoder, k string, raw any, w *Watcher) {
			f, ok := d.percent(k, raw)
			switch {
			case !ok:
			case f < 0:
				d.bad(k, raw, "must be >= 0 (0 = no limit), got %g", f)
			default:
				w.MaxCPU = f
			}
		},
		wire: func(w *Watcher) any { return w.MaxCPU },
	},
	intField("limit_threshold", func(w *Watcher) *int { return &w.LimitThreshold }, 1, math.MaxInt32),

	listField("depends_on", func(w *Watcher) *[]string { return &w.DependsOn }),
}
