// Package configs holds poold's configuration types, their defaults, the
// loader (viper: TOML, YAML, JSON by file extension) and validation.
//
// Concurrency: values are plain data; nothing here starts a goroutine or
// keeps state between calls. Load, WatcherFromOptions and ApplyOptions do
// file I/O and user/group lookups (working_dir, uid, gid), so the arbiter
// should run them off its event loop; a loaded *Config is never mutated
// after Load returns, so it may be shared read-only.
package configs

import (
	"crypto/tls"
	"os"
	"syscall"
	"time"
)

// Config is one complete, validated poold configuration.
type Config struct {
	// Path is the file the config was loaded from ("" when built in code).
	Path     string
	Arbiter  Arbiter
	Web      Web
	Sockets  []Socket  // sorted by name
	Watchers []Watcher // sorted by priority (high first), then name
	// Warnings are lines ("configs: FILE: ...") about things Load let
	// pass but the user should hear of, such as an override variable of
	// a watcher the file does not define. Not part of the config itself:
	// an upgrade does not hand them over.
	Warnings []string `json:"-"`
	// SourceTerms, set for a file translated from a circus.ini or a
	// supervisord.conf, rewrites problems found after the load (what a
	// reload's machine checks say of it) to name the file's own sections,
	// options and lines, as the load's own problems do, not poold's keys
	// the user never wrote. Nil: poold's own format. Not handed over.
	SourceTerms func(*Error) `json:"-"`

	// format is the file's format ("toml", "yaml", "json") when Load read
	// it, and fromEnv the keys POOLD_* variables set (key -> variable):
	// what Locate needs to place problems found after Load.
	format  string
	fromEnv map[string]string
}

// Arbiter is the [arbiter] section.
type Arbiter struct {
	// Endpoint is the control ROUTER endpoint (ipc:// or tcp://).
	// Default: DefaultEndpoint().
	Endpoint string
	// PubSubEndpoint is the event PUB endpoint. Default: DefaultPubSubEndpoint().
	PubSubEndpoint string
	// StatsEndpoint is the stats PUB endpoint. Default: DefaultStatsEndpoint().
	StatsEndpoint string
	// StatsInterval is how often workers are sampled. Default 1s.
	StatsInterval time.Duration
	// MaxProcesses caps the workers of all watchers together (their
	// numprocesses summed): a typo in an incr cannot fork-bomb the
	// machine. Default 8192.
	MaxProcesses int
	// AllowRemote permits a tcp:// control endpoint on a non-loopback
	// address (the protocol has no authentication). Default false.
	AllowRemote bool
	// ControlAllow lists who may run every command on an ipc control
	// endpoint ("uid:N", "user:NAME", "gid:N", "group:NAME"), checked
	// with SO_PEERCRED. poold's own uid and root always may.
	ControlAllow []string
	// ControlReadOnly lists who may run read-only commands only.
	ControlReadOnly []string
	// LogLevel is trace, debug, info, warn or error. Default info.
	LogLevel string
	// LogFormat is text or json. Default text.
	LogFormat string
	// EventHistory is how many recent events poold keeps for replay
	// (events_since, poolctl events --since, a console that opens).
	// 0 keeps none. Default 1024.
	EventHistory int
	// StuckAfter is how long one step of poold's event loop (a worker's
	// fork, a command) may run before /healthz and systemd's watchdog
	// call the loop stuck rather than busy. Default 30s.
	StuckAfter time.Duration
}

// Web is the [web] section: the live console.
type Web struct {
	Enabled  bool
	Address  string // default 127.0.0.1:8080
	Token    string // required when Address is not loopback
	ReadOnly bool
	// MetricsAddress, when set, serves /metrics, /healthz and /readyz on
	// their own host:port, whether or not the console is enabled. /metrics
	// there needs Token when one is set; the probes never do.
	MetricsAddress string
	// TLSCert and TLSKey are PEM files: with them the console and its
	// control API (/api/v1/) speak HTTPS only.
	TLSCert string
	TLSKey  string
	// APITokens are "ROLE:PATH" entries (ROLE operator or read-only):
	// bearer tokens of the control API, one per file.
	APITokens []string
	// Tokens are the API tokens read from APITokens' files at load.
	Tokens []APIToken
	// Cert is the certificate and key read from TLSCert and TLSKey at
	// load (nil without them), so that a reload serves a renewed one.
	Cert *tls.Certificate
}

// Socket is one [sockets.NAME] section: a listening socket poold binds
// before any worker starts and hands to the watchers that use it.
type Socket struct {
	Name      string
	Family    string // tcp (v4 or v6 by host), tcp4, tcp6 or unix. Default tcp, or unix when Path is set.
	Host      string // default 127.0.0.1
	Port      int    // 0 lets the kernel choose
	Path      string // unix socket path
	Backlog   int    // default 2048
	ReusePort bool   // SO_REUSEPORT
	// BindIPv6Only, for a socket on host "::", is systemd's BindIPv6Only=:
	// "both" (IPv4 too, dual-stack), "ipv6-only", or "" (both, unless
	// another socket binds an IPv4 address at the same port: see IPv6Only).
	BindIPv6Only string
	// Mode is the unix socket file's permission bits. Default 0660.
	Mode os.FileMode
	// Owner and Group (a name or number; "" keeps poold's) own the unix
	// socket file, as systemd's SocketUser= and SocketGroup=: a front end
	// of another user (nginx as www-data) connects through its group.
	Owner, Group string
	// ReplaceStale removes a unix socket file that nobody listens on.
	// Default true.
	ReplaceStale bool
	// NonBlocking (key blocking = false; default blocking = true) sets
	// O_NONBLOCK on the listening socket, as Circus's blocking = false
	// (its default): the flag is on the socket, shared by every worker,
	// so a worker woken with the others for one connection gets EAGAIN
	// from accept rather than sleeping there, deaf to its stop.
	NonBlocking bool
}

// Watcher is one [watchers.NAME] section: a named pool of identical workers.
type Watcher struct {
	Name         string
	Cmd          string
	Args         []string
	NumProcesses int // default 1
	// MaxProcesses caps NumProcesses (config, incr, set). Default 1024.
	MaxProcesses int
	// Singleton (Circus's singleton): at most one worker, and incr and
	// decr leave the count as it is.
	Singleton  bool
	Env        []string // KEY=VALUE, case and $ kept as written
	CopyEnv    bool     // start from poold's own environment. Default false.
	WorkingDir string
	UID        string // user name or number; "" = poold's
	GID        string // group name or number; "" = the user's primary group
	Umask      int    // -1 = inherit poold's (default)
	// Rlimits maps a resource name (nofile, nproc, core, as, fsize, data,
	// stack, cpu, memlock, rss, msgqueue, nice, rtprio, sigpending,
	// locks) to its soft and hard limit.
	Rlimits    map[string]uint64
	StopSignal syscall.Signal // default SIGTERM
	// StopChildren sends the stop signal to the worker's whole process
	// group (Circus's stop_children, supervisord's stopasgroup); false
	// sends it to the worker alone, as systemd's KillMode=mixed does, for
	// a master that stops its own children (gunicorn). Either way what is
	// left at GracefulTimeout is SIGKILLed. Default true.
	StopChildren    bool
	GracefulTimeout time.Duration // default 30s
	// WarmupDelay is a pause between starting two workers. Default 0.
	WarmupDelay time.Duration
	Priority    int  // higher starts first and stops last. Default 0.
	Autostart   bool // default true
	Respawn     bool // default true
	// FailureAction is failure_action: what poold does when this
	// watcher reaches failed (a slot gave up after flapping_max_retry
	// pauses, or its before_spawn hook refused): "none" (the default: it
	// stays failed until started or reloaded) or "exit" (poold stops
	// every watcher gracefully and exits with status 69, as systemd's
	// FailureAction=exit: a one-app container then ends, and its
	// orchestrator restarts it).
	FailureAction string

	// ReadinessOptional is required_for_readiness = false: poold's
	// readiness (/readyz, systemd's READY=1) leaves this watcher out, as
	// it does one with autostart = false: a side worker whose crash loop
	// must not take a load balancer's traffic from the pools that serve.
	// Inverted, so that its zero value is the default: a spec built by
	// hand, or handed over by a build without it (an upgrade in place),
	// counts.
	ReadinessOptional bool
	// ReadyMin is ready_min: how many ready workers make this watcher
	// ready for poold's readiness; unset, every worker.
	ReadyMin ReadyMin

	// NoRespawnExitCodes: a ready worker that exits on its own with one of
	// these statuses is not replaced (its slot stays empty, as with
	// Respawn off): supervisord's autorestart=unexpected with exitcodes.
	NoRespawnExitCodes []int
	// Sockets names the sockets this watcher's workers inherit, in this
	// order at fds 3, 4, ... Sockets named in cmd, args or env through
	// $(pool.sockets.NAME) are added; UseSockets adds every socket.
	// SocketNames gives the resulting order.
	Sockets    []string
	UseSockets bool
	// Backoff bounds the restart delay of a worker that keeps dying
	// soon after start: BackoffMin doubling up to BackoffMax.
	// A worker alive for BackoffReset counts as healthy again.
	BackoffMin   time.Duration // default 100ms
	BackoffMax   time.Duration // default 30s
	BackoffReset time.Duration // default 10s

	// Readiness says how poold knows a worker is ready to serve: spawn
	// (as soon as it runs, the default), delay (alive for ReadyDelay),
	// notify (it sends READY=1 on $NOTIFY_SOCKET, the systemd protocol),
	// tcp (ReadyAddress accepts a connection) or http (ReadyURL answers
	// 2xx). ReadyAddress and ReadyURL may use $(pool.wid) and other
	// variables, expanded per worker.
	Readiness    string
	ReadyDelay   time.Duration // delay: default 1s
	ReadyTimeout time.Duration // not ready by then = a failed start. Default 60s
	ReadyAddress string
	ReadyURL     string

	// MaxSurge is how many new workers a rolling reload starts at once
	// (each batch must be ready before as many old ones stop), as a count
	// or a share of NumProcesses. Default 100%: all of them.
	MaxSurge Surge
	// SendHUP makes reload send SIGHUP to each worker instead of
	// replacing it (for workers that reload themselves, like gunicorn).
	SendHUP bool
	// MaxAge recycles a worker, through the rolling path, once it has run
	// this long plus a random 0..MaxAgeVariance (0 = never).
	MaxAge         time.Duration
	MaxAgeVariance time.Duration

	// Flapping: FlappingAttempts unexpected exits within FlappingWindow
	// put the watcher in the flapping state; it pauses FlappingRetryIn,
	// tries again, and gives up (stops, says so) after FlappingMaxRetry
	// pauses (-1: never gives up). FlappingAttempts 0 turns detection off.
	FlappingAttempts int           // default 5
	FlappingWindow   time.Duration // default 10s
	FlappingRetryIn  time.Duration // default 7s
	FlappingMaxRetry int           // default 5; -1 = retry forever

	// Health checks of running workers: HealthCheck is "" (none), http
	// (HealthURL answers 2xx), tcp (HealthAddress accepts) or exec
	// (HealthCmd exits 0; run with the worker's pid in $POOLD_PID).
	// HealthThreshold failures in a row replace the worker.
	HealthCheck     string
	HealthURL       string
	HealthAddress   string
	HealthCmd       string
	HealthInterval  time.Duration // default 10s
	HealthTimeout   time.Duration // default 5s
	HealthThreshold int           // default 3
	// Resource limits: a worker over MaxRSS bytes or MaxCPU percent of a
	// core for LimitThreshold stats samples in a row is replaced.
	MaxRSS         uint64  // 0 = no limit; "512M" in a file
	MaxCPU         float64 // 0 = no limit
	LimitThreshold int     // default 3
	// Kernel limits on each worker's cgroup (configs/cgroup.go).
	MemoryMax uint64  // memory_max: bytes, 0 = none
	PidsMax   int     // pids_max: 0 = none
	CPUMax    float64 // cpu_max: percent of one core, 0 = none

	// DependsOn names watchers that must be ready before this one starts;
	// stops run in the reverse order.
	DependsOn []string

	// Scaling makes the pool elastic (configs/elastic.go).
	Scaling
	// Hooks maps a lifecycle point (HookNames: before_start, after_spawn,
	// ...) to a command run off the event loop, with the event in its
	// environment, for at most HookTimeout. A failing before_start or
	// before_spawn stops that action, as in Circus (configs/hooks.go).
	Hooks       map[string]string
	HookTimeout time.Duration // default 30s
	// Process attributes (process.go): nil and "" inherit poold's.
	Nice        *int   // -20..19
	OOMScoreAdj *int   // -1000..1000
	Chroot      string // the workers' root directory
	// Logs: where the workers' stdout and stderr go (configs/workerlogs.go).
	Logs WorkerLogs
}

// Default values, in one place. README.md's config reference mirrors these.
const (
	DefaultStatsInterval = time.Second
	MinStatsInterval     = 100 * time.Millisecond
	DefaultLogLevel      = "info"
	DefaultLogFormat     = "text"
	DefaultEventHistory  = 1024
	DefaultStuckAfter    = 30 * time.Second
	// MinStuckAfter and MaxStuckAfter bound stuck_after: above /healthz's
	// 1 s wait for the loop, so a probe can say "busy" first, and short
	// enough that a loop stuck for good is still found.
	MinStuckAfter           = 2 * time.Second
	MaxStuckAfter           = time.Hour
	DefaultWebAddress       = "127.0.0.1:8080"
	DefaultSocketHost       = "127.0.0.1"
	DefaultBacklog          = 2048
	DefaultSocketMode       = os.FileMode(0o660)
	DefaultNumProcesses     = 1
	DefaultMaxProcesses     = 1024 // per watcher
	DefaultMaxTotal         = 8192 // all watchers together
	DefaultStopSignal       = syscall.SIGTERM
	DefaultGracefulTimeout  = 30 * time.Second
	DefaultBackoffMin       = 100 * time.Millisecond
	DefaultBackoffMax       = 30 * time.Second
	DefaultBackoffReset     = 10 * time.Second
	DefaultReadiness        = "spawn"
	DefaultFailureAction    = "none"
	DefaultReadyDelay       = time.Second
	DefaultReadyTimeout     = 60 * time.Second
	DefaultFlappingAttempts = 5
	DefaultFlappingWindow   = 10 * time.Second
	DefaultFlappingRetryIn  = 7 * time.Second
	DefaultFlappingMaxRetry = 5
	DefaultHealthInterval   = 10 * time.Second
	DefaultHealthTimeout    = 5 * time.Second
	DefaultHealthThreshold  = 3
	DefaultLimitThreshold   = 3
	DefaultHookTimeout      = 30 * time.Second
	// DefaultUmask -1 means the workers inherit poold's umask.
	DefaultUmask = -1
	// DefaultSocketFamily applies when a socket has no path; with a path
	// the family is unix.
	DefaultSocketFamily = "tcp"
	DefaultReplaceStale = true
	DefaultAutostart    = true
	DefaultRespawn      = true
	DefaultStopChildren = true
)

// RlimitUnlimited in Watcher.Rlimits is RLIM_INFINITY (written "unlimited"
// in a config file).
const RlimitUnlimited = ^uint64(0)

// DefaultArbiter returns the [arbiter] section with every default applied.
// The endpoints depend on the environment (see RuntimeDir).
func DefaultArbiter() Arbiter {
	return Arbiter{
		Endpoint:       DefaultEndpoint(),
		PubSubEndpoint: DefaultPubSubEndpoint(),
		StatsEndpoint:  DefaultStatsEndpoint(),
		StatsInterval:  DefaultStatsInterval,
		MaxProcesses:   DefaultMaxTotal,
		LogLevel:       DefaultLogLevel,
		LogFormat:      DefaultLogFormat,
		EventHistory:   DefaultEventHistory,
		StuckAfter:     DefaultStuckAfter,
	}
}

// DefaultWeb returns the [web] section with every default applied
// (the console is disabled unless enabled = true).
func DefaultWeb() Web {
	return Web{Address: DefaultWebAddress}
}

// DefaultSocket returns a socket named name with every default applied
// (Family is left empty: it is derived from Path when loading).
func DefaultSocket(name string) Socket {
	return Socket{
		Name:         name,
		Host:         DefaultSocketHost,
		Backlog:      DefaultBacklog,
		Mode:         DefaultSocketMode,
		ReplaceStale: DefaultReplaceStale,
	}
}

// DefaultWatcher returns a watcher named name with every default applied
// and no command.
func DefaultWatcher(name string) Watcher {
	return Watcher{
		Name:             name,
		NumProcesses:     DefaultNumProcesses,
		MaxProcesses:     DefaultMaxProcesses,
		Umask:            DefaultUmask,
		StopSignal:       DefaultStopSignal,
		StopChildren:     DefaultStopChildren,
		GracefulTimeout:  DefaultGracefulTimeout,
		Autostart:        DefaultAutostart,
		Respawn:          DefaultRespawn,
		FailureAction:    DefaultFailureAction,
		BackoffMin:       DefaultBackoffMin,
		BackoffMax:       DefaultBackoffMax,
		BackoffReset:     DefaultBackoffReset,
		Readiness:        DefaultReadiness,
		ReadyDelay:       DefaultReadyDelay,
		ReadyTimeout:     DefaultReadyTimeout,
		MaxSurge:         DefaultMaxSurge(),
		FlappingAttempts: DefaultFlappingAttempts,
		FlappingWindow:   DefaultFlappingWindow,
		FlappingRetryIn:  DefaultFlappingRetryIn,
		FlappingMaxRetry: DefaultFlappingMaxRetry,
		HealthInterval:   DefaultHealthInterval,
		HealthTimeout:    DefaultHealthTimeout,
		HealthThreshold:  DefaultHealthThreshold,
		LimitThreshold:   DefaultLimitThreshold,
		Scaling:          DefaultScaling(),
		HookTimeout:      DefaultHookTimeout,
		Logs:             DefaultWorkerLogs(),
	}
}

// DefaultMaxSurge is 100% of numprocesses.
func DefaultMaxSurge() Surge { return Surge{Percent: 100} }
