// Package watcher runs one named pool of identical worker processes: its
// spec, its slots and process records, its state machine and its restart
// policy.
//
// Concurrency: a Watcher has no lock and no goroutine of its own. The
// arbiter's event loop owns it and is the only caller of its methods; the
// watcher acts on the world only through the Host the loop gives it
// (spawning, signalling, timers, checks, events), which is what lets tests
// drive it with a fake host and an injected clock. Every public method
// finishes its change (reconcile runs its steps until nothing changes) and
// only then calls the WhenSettled callbacks that became due.
//
// Watcher status:
//
//	          Start                 all ready
//	stopped ─────────▶ starting ───────────────▶ active
//	   ▲                                           │ Stop
//	   │          last process reaped              ▼
//	   └──────────────────────────────────────── stopping
//
// (A Start while stopping waits for the stop to finish. flapping or failed
// is shown instead of starting/active while a slot pauses or gave up; the
// other slots keep running.)
//
// Slots: a worker holds a wid (its slot number) from spawn until it is
// reaped, draining included, and no two live processes of a watcher ever
// share one. Wids lie in 1..numprocesses+max_surge: a dead worker's
// replacement takes the same wid; a worker replaced while it still runs
// (rolling reload, max_age, health, limits, kill) hands over to one with a
// free wid. A slot whose worker died early keeps its wid while it waits:
//
//	running ──early death──▶ backoff ──delay──▶ running
//	   │                       │ Attempts in a row
//	   │                       ▼
//	   │                    paused ──retry_in──▶ running
//	   │                       │ after MaxRetry pauses
//	   │                       ▼
//	   │                    failed (until Start or Reload)
//	   └──exit, respawn off──▶ exited
//
// Process state:
//
//	starting ──(readiness: spawn, delay, notify, tcp/http probe)──▶ ready
//	   │                                                             │
//	   └─(not ready in time: a failed start)─▶ stopping ◀─(retire)──┘
//	stopping ──(reaped; SIGKILL of its group at the grace deadline)──▶ gone
//
// Replacements (reload, max_age, failed health check, resource limit) go
// through one rolling path: the new worker starts first, the old one
// retires once the new one is ready. A worker that never passed a health
// check, or was over a limit since it was young, is no better than one
// that failed its readiness: it stops first and its exit is an early death. A new worker of a reload that cannot
// start or become ready abandons the reload: the old spec comes back and
// the old workers keep serving.
package watcher
