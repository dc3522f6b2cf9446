package zmqguard

import (
	"sync"
	"time"
)

// Throttle decides which of a stream of log lines about a peer to write:
// the first, then at most one per Every for the same key, that one saying
// how many were left out meanwhile. A peer that floods poold with
// refusals or connections then costs one line a minute, not one each.
//
// Concurrency: safe for concurrent use; Allow never blocks on I/O.
type Throttle struct {
	Every time.Duration // one minute when zero
	Now   func() time.Time

	mu   sync.Mutex
	last map[string]*throttled
}

type throttled struct {
	at         time.Time
	suppressed int
}

// throttleKeys bounds the keys a Throttle remembers: past it, those
// whose minute is over are forgotten.
const throttleKeys = 1024

// Allow reports whether to log a line for key, and how many lines for it
// were left out since the last one logged.
func (t *Throttle) Allow(key string) (ok bool, suppressed int) {
	now := time.Now()
	if t.Now != nil {
		now = t.Now()
	}
	every := t.Every
	if every <= 0 {
		every = time.Minute
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.last == nil {
		t.last = make(map[string]*throttled)
	}
	e := t.last[key]
	if e != nil && now.Sub(e.at) < every {
		e.suppressed++
		return false, 0
	}
	if e != nil {
		suppressed = e.suppressed
	}
	if len(t.last) >= throttleKeys {
		for k, x := range t.last {
			if now.Sub(x.at) >= every {
				delete(t.last, k)
			}
		}
	}
	t.last[key] = &throttled{at: now}
	return true, suppressed
}
