package main

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// The pre-flight digests its inputs (checkInputs) in poold itself: it
// reads the config file and looks up the watchers' users and groups. On
// a hung NFS or FUSE mount, or an NSS lookup that never answers, that
// read never returns, and neither did the upgrade nor, since the arbiter
// waits for its pre-flight as it stops, poold's exit. It gets the rule
// of a reload's read (arbiter/readstuck.go): after inputsStuckAfter it
// counts as stuck and the upgrade is refused, saying which file and
// since when; poold stops without waiting for it; and while it is stuck
// an upgrade is refused at once rather than starting another read.

// inputsStuckAfter is how long the pre-flight's read of its inputs may
// take before it counts as stuck: as long as a reload's read.
var inputsStuckAfter = 15 * time.Second

// inputsLoad is checkInputs' read of the config (a test's stub: a read
// that never returns).
var inputsLoad = loadConfig

// inputsRead is the pre-flight's read of its inputs that runs, if any.
type inputsRead struct {
	mu    sync.Mutex
	done  chan struct{} // closed once it returns; nil before the first
	path  string
	since time.Time
}

var inputsReading inputsRead

// boundedInputs is checkInputs, given up when the read is stuck (an
// error that says so) or ctx ends (poold stops). A read given up goes on:
// see abandon.
func boundedInputs(ctx context.Context, path string, strict bool, state []byte) (string, error) {
	r := &inputsReading
	r.mu.Lock()
	prev, prevPath, prevSince := r.done, r.path, r.since
	r.mu.Unlock()
	if prev != nil {
		// One read at a time: stuck reads do not pile up, one per upgrade.
		if err := waitInputs(ctx, prev, prevPath, prevSince); err != nil {
			return "", err
		}
	}
	done, since := make(chan struct{}), time.Now()
	r.mu.Lock()
	r.done, r.path, r.since = done, path, since
	r.mu.Unlock()
	var inputs string
	// Owned by inputsReading: the next pre-flight waits for it. When
	// stuck it is left running on purpose, blocked in a system call (a
	// stat, open or read on a hung mount, a lookup) Go cannot cancel;
	// only its return or the process's exit ends it, and it touches
	// nothing but inputs and done.
	go func() {
		defer close(done)
		inputs = checkInputs(path, strict, state)
	}()
	if err := waitInputs(ctx, done, path, since); err != nil {
		return "", err
	}
	return inputs, nil
}

// waitInputs waits for the read begun at since to return (done closed),
// at most until it counts as stuck or ctx ends.
func waitInputs(ctx context.Context, done <-chan struct{}, path string, since time.Time) error {
	select {
	case <-done:
		return nil
	default:
	}
	if ctx.Err() != nil {
		return givenUp(ctx, path)
	}
	timer := time.NewTimer(max(time.Until(since.Add(inputsStuckAfter)), 0))
	defer timer.Stop()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return givenUp(ctx, path)
	case <-timer.C:
		return fmt.Errorf("pre-flight: its read of the config file %s (or of the watchers' users and groups) has been stuck for %s "+
			"(begun at %s; a hung NFS or FUSE mount, or a user or group lookup that does not answer?); "+
			"make the file readable again, then upgrade again", path, time.Since(since).Round(time.Second), since.Format(time.TimeOnly))
	}
}

// givenUp is the error of a pre-flight whose poold stops during its read.
func givenUp(ctx context.Context, path string) error {
	return fmt.Errorf("pre-flight: its read of the config file %s was given up: %w", path, ctx.Err())
}
