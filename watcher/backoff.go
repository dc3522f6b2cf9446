package watcher

import (
	"math"
	"math/rand/v2"
	"time"
)

// Backoff is the restart policy for a worker that keeps dying soon after it
// started: the n-th quick failure in a row waits Min * 2^(n-1), capped at
// Max, with up to Jitter (a fraction, 0..1) of that added at random so a
// pool of crashing workers does not restart in lockstep. A worker that
// stayed up for Reset is healthy again and its count starts over.
//
// It is a pure value: the same inputs give the same delays (with Jitter 0),
// which is what its table tests check.
type Backoff struct {
	Min, Max, Reset time.Duration
	Jitter          float64
}

// Delay returns how long to wait before restarting after the given number
// of consecutive quick failures (0 = restart at once).
func (b Backoff) Delay(failures int) time.Duration {
	if failures <= 0 || b.Min <= 0 {
		return 0
	}
	d := b.Min
	for i := 1; i < failures && d < b.Max && d <= math.MaxInt64/2; i++ {
		d *= 2 // never past the largest duration: wrapped, it is negative
	}
	if b.Max > 0 && d > b.Max {
		d = b.Max
	}
	if b.Jitter > 0 {
		d = addSat(d, rand.Float64()*b.Jitter*float64(d))
	}
	return d
}

// Failures returns the new count of consecutive quick failures after a
// worker that lived for uptime exited unexpectedly.
func (b Backoff) Failures(prev int, uptime time.Duration) int {
	if uptime >= b.Reset {
		return 0
	}
	return prev + 1
}

// addSat is d plus extra (not negative), at most the largest duration.
func addSat(d time.Duration, extra float64) time.Duration {
	if float64(d)+extra >= math.MaxInt64 {
		return math.MaxInt64
	}
	return d + time.Duration(extra)
}
