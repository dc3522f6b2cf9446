package watcher

import "time"

// CrashPolicy decides what happens to a slot whose worker died on its own
// (or could not be started, or failed its readiness). It is a pure value,
// like Backoff, and holds no state: the slot keeps its Counters.
//
// Only early deaths count. A worker that lived at least Early is replaced
// at once and its slot's counters start over, so an operator's kill -9 or
// the OOM killer taking a long-lived worker never looks like a crash loop.
// Early deaths in a row are restarted after a growing Backoff delay; the
// Attempts-th one in a row pauses the slot for RetryIn ("flapping") and
// the streak starts over; a slot that has paused MaxRetry times gives up
// on the next full streak ("failed") and stays empty until the user starts
// or reloads the watcher. Every slot keeps its own counters: one bad slot
// never holds back the others.
type CrashPolicy struct {
	Backoff  Backoff
	Early    time.Duration // a worker that lived less than this died early
	Attempts int           // early deaths in a row that make a pause; 0: never pause or give up
	RetryIn  time.Duration // length of a pause
	MaxRetry int           // pauses before the slot gives up; < 0: never give up
}

// Counters are a slot's crash history.
type Counters struct {
	Streak int // early deaths in a row since the last pause
	Pauses int // pauses so far
}

// Action is what a slot does after a death.
type Action int

// Actions, mildest first.
const (
	Respawn Action = iota + 1 // start again at once
	BackOff                   // start again after Verdict.Delay
	Pause                     // flapping: start again after Verdict.Delay (RetryIn)
	GiveUp                    // failed: stay empty until started again
)

func (a Action) String() string {
	switch a {
	case Respawn:
		return "respawn"
	case BackOff:
		return "backoff"
	case Pause:
		return "pause"
	case GiveUp:
		return "give up"
	}
	return "unknown"
}

// Verdict is the policy's answer to one death.
type Verdict struct {
	Action Action
	Delay  time.Duration
}

// PolicyFor builds the crash policy of a watcher's spec. A death counts as
// early when the worker lived less than backoff_reset, or less than
// flapping_window when that is shorter.
func PolicyFor(backoff Backoff, attempts int, window, retryIn time.Duration, maxRetry int) CrashPolicy {
	early := backoff.Reset
	if window > 0 && window < early {
		early = window
	}
	return CrashPolicy{Backoff: backoff, Early: early, Attempts: attempts, RetryIn: retryIn, MaxRetry: maxRetry}
}

// Next returns the slot's new counters and what to do after a worker that
// lived for uptime died.
func (p CrashPolicy) Next(c Counters, uptime time.Duration) (Counters, Verdict) {
	if uptime >= p.Early {
		return Counters{}, Verdict{Action: Respawn}
	}
	c.Streak++
	if p.Attempts > 0 && c.Streak >= p.Attempts {
		if p.MaxRetry >= 0 && c.Pauses >= p.MaxRetry {
			return c, Verdict{Action: GiveUp}
		}
		return Counters{Pauses: c.Pauses + 1}, Verdict{Action: Pause, Delay: p.RetryIn}
	}
	// Even with no backoff configured, an early death waits a moment on
	// a timer, so a worker that cannot start never spins the loop.
	return c, Verdict{Action: BackOff, Delay: max(p.Backoff.Delay(c.Streak), minDelay)}
}

// minDelay is the shortest wait after an early death.
const minDelay = time.Millisecond

// GiveUpAfter is how long a slot whose worker dies at once (or cannot be
// started) takes to give up, ignoring jitter: MaxRetry+1 streaks of
// Attempts deaths, each streak waiting out its backoffs, and MaxRetry
// pauses in between. With the defaults it is about 44 s.
func (p CrashPolicy) GiveUpAfter() time.Duration {
	if p.Attempts <= 0 || p.MaxRetry < 0 {
		return 0
	}
	streak := time.Duration(0)
	for i := 1; i < p.Attempts; i++ {
		b := p.Backoff
		b.Jitter = 0
		streak += b.Delay(i)
	}
	return time.Duration(p.MaxRetry+1)*streak + time.Duration(p.MaxRetry)*p.RetryIn
}
