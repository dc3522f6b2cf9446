package events

// Kind is what happened: the last part of an event's topic
// ("watcher.web.spawn" has Kind "spawn"). The constants below are every
// kind poold publishes; PROTOCOL.md section 2 is the wire contract. Every
// payload also carries time (unix seconds, float) and seq, and each of the
// lifecycle stream's its instance (Event.Instance).
//
// Payload fields named below: process_pid is the worker's pid, process_id
// its wid (slot number 1..N), reason a human sentence (but in KindReap and
// KindExit, a code).
type Kind string

// Circus's watcher events (PROTOCOL.md section 2). Tools written for Circus
// rely on these names and fields.
const (
	// KindSpawn: a worker was started. Fields: process_pid, process_id.
	KindSpawn Kind = "spawn"
	// KindReap: a worker's process was reaped, published when circusd
	// publishes it: for a worker that ended on its own (or failed its
	// readiness), and for every worker of a watcher being stopped (stop,
	// restart, quit). A worker poold stops on purpose while its watcher
	// runs (decr, reload, kill, max_age, a health or limit replacement)
	// gets kill events and no reap, as in Circus, so Circus's flapping
	// plugin does not take it for a crash. KindExit is published for
	// every exit. Fields: process_pid, process_id, exit_code (negative =
	// killed by that signal number); poold's: reason (a code: exit,
	// signal, oom, graceful_timeout, readiness, unhealthy, limit),
	// exit_reason (a sentence), and when a signal ended it signal (its
	// name, "TERM", unlike KindKill's number) and core_dumped.
	KindReap Kind = "reap"
	// KindKill: poold sent a signal to a worker while stopping it, once
	// per signal. Fields: process_pid, process_id, signal (number); for
	// a signal other than SIGKILL to a worker being stopped, poold adds
	// graceful_timeout (its grace period, seconds) and kill_in (seconds
	// left of it: poold SIGKILLs the worker then if it is still there).
	KindKill Kind = "kill"
	// KindStart: the watcher was started, published after the spawn
	// events of its workers, as circusd does. No fields. Also an arbiter event
	// ("arbiter.start", field pid: poold's own pid).
	KindStart Kind = "start"
	// KindStop: the watcher was stopped. No fields. Also an arbiter event
	// ("arbiter.stop", no fields), the last one poold publishes.
	KindStop Kind = "stop"
	// KindReload: the watcher was reloaded, published when circusd
	// publishes it: at the end of a graceful (rolling) reload, once the
	// old workers are replaced; after the start of a stopped watcher;
	// after the signals with send_hup; and at the end of the rolling
	// replacement a changed spec causes (a config reload, a set of cmd),
	// for which circusd restarts the watcher. A reload that is not graceful is a
	// stop and a start, with no reload event; an abandoned one publishes
	// KindReloadFailed. Field (poold's): began, when the reload was asked
	// for (unix seconds).
	KindReload Kind = "reload"
	// KindUpdated: the watcher's options changed (set, reloadconfig). No
	// fields.
	KindUpdated Kind = "updated"
	// KindAdd: the watcher was added (add, reloadconfig). No fields.
	KindAdd Kind = "add"
	// KindRemove: the watcher was removed (rm, reloadconfig). No fields.
	// As in circusd, it comes before the removed watcher's kill, exit, reap
	// and stop events.
	KindRemove Kind = "remove"
	// KindHookSuccess: a command hook exited 0. Fields: name (the hook,
	// e.g. "before_start").
	KindHookSuccess Kind = "hook_success"
	// KindHookFailure: a command hook failed (exited non-zero, could not
	// run, or outlived hook_timeout). Fields: name, error.
	KindHookFailure Kind = "hook_failure"
)

// poold's additions: readiness, health, restart policy, reload outcome.
const (
	// KindExit: a worker's process ended and was reaped, whatever the
	// cause (KindReap is published only where circusd publishes it).
	// Fields: process_pid, process_id, exit_code (negative = killed by
	// that signal number), stopped (true when poold had asked it to stop),
	// and reason, exit_reason, signal, core_dumped as KindReap.
	KindExit Kind = "exit"
	// KindReady: a worker passed its readiness check. Fields:
	// process_pid, process_id.
	KindReady Kind = "ready"
	// KindBackoff: a worker ended soon after it started (or could not be
	// started); its slot is respawned after a delay. Fields: process_id,
	// delay (seconds), failures (early deaths of that slot in a row),
	// reason (how the worker ended). From failures 2 on (or a
	// KindSpawnError), the watcher's status is flapping, with no event of
	// its own until KindFlapping pauses the slot; KindRecovered ends it.
	KindBackoff Kind = "backoff"
	// KindSpawnError: a worker could not be started (exec failed, bad
	// user, ...). It counts as an early death of its slot (a backoff,
	// flapping or failed event follows), or abandons a rolling reload.
	// Fields: process_id, reason.
	KindSpawnError Kind = "spawn_error"
	// KindFlapping: a slot's workers ended early flapping_attempts times
	// in a row; the slot pauses for flapping_retry_in (other workers keep
	// running). Fields: process_id, reason, retries (pauses so far),
	// retry_in (seconds), gave_up (always false; see KindFailed).
	KindFlapping Kind = "flapping"
	// KindFailed: a slot gave up: poold no longer respawns it until the
	// watcher is started or reloaded again. Fields: process_id, reason.
	KindFailed Kind = "failed"
	// KindRecovered: a slot's crash loop ended: a worker of it lived
	// backoff_reset (or flapping_window, if shorter). The watcher is no
	// longer flapping for that slot. Fields: process_pid, process_id,
	// uptime (seconds), status (the watcher's, now: active unless another
	// slot still loops). When the watcher's last loop ended otherwise (a
	// reload, a scale-down, a start of a paused slot) and it has not
	// flapped again for backoff_reset, the one field is status.
	KindRecovered Kind = "recovered"
	// KindUnhealthy: a worker failed its readiness check, its health check
	// (health_threshold times in a row) or stayed over a limit (max_rss,
	// max_cpu). Fields: process_pid, process_id, reason. Also, with the
	// fields oom_kills (how many) and memory_max (bytes), when the OOM
	// killer killed processes of a worker's cgroup under its memory_max
	// and the worker runs on (a gunicorn master's child): that worker is
	// not replaced.
	KindUnhealthy Kind = "unhealthy"
	// KindRecycle: a worker is being replaced through the rolling path
	// (max_age, unhealthy, over a limit). Fields: process_pid, process_id,
	// reason.
	KindRecycle Kind = "recycle"
	// KindReloadFailed: a rolling reload was abandoned; the old workers
	// keep serving. Fields: reason.
	KindReloadFailed Kind = "reload_failed"
	// KindScale: an elastic pool changed its size (autoscaling, on-demand
	// start, idle timeout, or incr/decr/set moving it within its bounds).
	// Fields: from, to (numbers of workers), reason (text), queue (the
	// last accept-queue reading).
	KindScale Kind = "scale"
	// KindLogError: a worker log file could not be opened or written (disk
	// full, read-only, permissions); its lines are dropped and counted
	// (status) until a write succeeds. Published once per failure.
	// Fields: path, stream, process_id (of the worker that hit it),
	// reason.
	KindLogError Kind = "log_error"
	// KindLeftEnded: what a worker killed by a signal (kill -9, the OOM
	// killer, a segfault) while not being stopped left running (a
	// gunicorn master's workers), which poold sent the watcher's
	// stop_signal as the worker's reap was published, has ended: by
	// itself within graceful_timeout, or by poold's SIGKILL then.
	// Fields: process_pid and process_id (the dead worker's), left (how
	// many were sent stop_signal), killed (how many of them poold
	// SIGKILLed at graceful_timeout; 0 when all ended in time),
	// graceful_timeout and waited (seconds, from the stop_signal).
	KindLeftEnded Kind = "left_ended"
)

// Arbiter-level kinds, published as "arbiter.<kind>" (besides KindStart and
// KindStop above).
const (
	// KindReloadConfig: a config reload's file was re-read and is being
	// applied, or was refused. Fields: added, removed, updated (in force
	// now), rolling (workers being replaced; a watcher whose rollout
	// fails publishes KindReloadFailed) (lists of watcher names),
	// sockets, restart_needed, settings; error for a refused one.
	KindReloadConfig Kind = "reloadconfig"
	// KindUpgrade: poold re-executed itself in place (poolctl upgrade,
	// SIGUSR2) and took over its workers, sockets and event seq: the
	// first event of the new image. poold's own; Circus has none.
	// Fields: pid (unchanged), old_version, new_version, outcome
	// ("upgraded" or "rolled_back"), reason (why a rollback happened).
	KindUpgrade Kind = "upgrade"
	// KindQueueStuck: a socket's accept queue stayed non-empty for 10 s
	// while the watchers holding it ran, settled: connections wait and
	// no worker accepts them (workers listening elsewhere, or all busy
	// or hung). Once per spell, until the queue drains to 0. poold's
	// own. Fields: socket, address, queue, queue_limit, watchers (names),
	// waited (seconds).
	KindQueueStuck Kind = "queue_stuck"
)

// KindStat is the kind of every event on the stats bus, whose topics are
// "stat.<...>" (PROTOCOL.md section 3).
const KindStat Kind = "stat"

// Kinds lists every kind poold publishes on the event bus, for tests and
// tools that want to recognise them.
func Kinds() []Kind {
	return []Kind{
		KindSpawn, KindReap, KindKill, KindStart, KindStop, KindReload, KindUpdated, KindAdd, KindRemove,
		KindHookSuccess, KindHookFailure,
		KindExit, KindReady, KindBackoff, KindSpawnError, KindFlapping, KindFailed, KindRecovered, KindUnhealthy, KindRecycle, KindReloadFailed, KindLogError, KindLeftEnded,
		KindReloadConfig, KindUpgrade, KindQueueStuck,
	}
}
