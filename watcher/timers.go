package watcher

// Check identifies a probe run for one process. Watcher is the ID of the
// watcher that asked, so an outcome never reaches another watcher that
// took the same name later.
type Check struct {
	Watcher uint64
	Kind    CheckKind
	Pid     int
	Gen     uint64
}

// CheckKind says what a Check was for.
type CheckKind int

// Check kinds.
const (
	CheckReady    CheckKind = iota + 1 // readiness probe (tcp/http), polled until ready_timeout
	CheckHealth                        // one health probe
	CheckHook                          // a command hook (hook.go)
	CheckHandover                      // a new worker (readiness spawn), until it waits on its sockets or, without, has started (handover.go)
	CheckLookup                        // the watcher's user and group asked of NSS (lookup.go)
)

// Timer is a deferred action for a watcher, routed by the watcher's ID.
// Gen ties it to the state that armed it: a timer whose generation no
// longer matches is stale and ignored.
type Timer struct {
	Watcher uint64
	Kind    TimerKind
	Pid     int
	Wid     int
	Gen     uint64
}

// TimerKind says what a Timer does when it fires.
type TimerKind int

// Timer kinds.
const (
	TimerKill         TimerKind = iota + 1 // grace period over: SIGKILL the group
	TimerRespawn                           // backoff over: start the slot again
	TimerReadyDelay                        // readiness "delay": alive long enough
	TimerReadyTimeout                      // not ready in time: a failed start
	TimerMaxAge                            // recycle an old worker
	TimerFlapRetry                         // a slot's flapping pause is over
	TimerHealth                            // time for the next health round
	TimerWarmup                            // warmup_delay over: the next worker may start
	TimerMore                              // the loop served others: spawn the next batch
	TimerSurvived                          // a worker of a crash-looping slot lived long enough: the loop is over
	TimerRecovered                         // the watcher has not flapped for backoff_reset since its loops ended otherwise
)
