package web

import (
	"context"
	"slices"
	"sync"
)

// buildTurns hands out the turns to build a big reply (replycap.go): at
// most all at once, at most perKey of them to one key (a token, or a
// client address), so that one token's crowd leaves turns free for the
// others; a turn that frees goes to the waiting key that holds the
// fewest (the one that waited longest among those), and each key's
// callers are served in the order they came. A key's crowd so queues
// behind itself, and another key waits at most for one build to end.
type buildTurns struct {
	perKey int

	mu      sync.Mutex
	free    int                        // turns not given
	busy    map[string]int             // turns given, by key
	waiting map[string][]chan struct{} // callers waiting, by key, first come first
	order   []string                   // keys with callers waiting, longest waiting first
}

func newBuildTurns(all, perKey int) *buildTurns {
	return &buildTurns{perKey: perKey, free: all, busy: map[string]int{}, waiting: map[string][]chan struct{}{}}
}

// wait waits for a turn of key's; end ends it (once; later calls do
// nothing). err is ctx's when it ended first (no turn is held then).
func (t *buildTurns) wait(ctx context.Context, key string) (end func(), err error) {
	t.mu.Lock()
	// A turn free with callers waiting means they wait for their key's
	// share, so one of key's own first come goes first.
	if t.free > 0 && t.busy[key] < t.perKey && len(t.waiting[key]) == 0 {
		t.give(key)
		t.mu.Unlock()
		return t.ender(key), nil
	}
	ch := make(chan struct{})
	if len(t.waiting[key]) == 0 {
		t.order = append(t.order, key)
	}
	t.waiting[key] = append(t.waiting[key], ch)
	t.mu.Unlock()
	select {
	case <-ch:
		return t.ender(key), nil
	case <-ctx.Done():
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.unqueue(key, ch) {
		t.release(key) // given meanwhile: the next caller has it
	}
	return nil, ctx.Err()
}

func (t *buildTurns) ender(key string) func() {
	return sync.OnceFunc(func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		t.release(key)
	})
}

// give gives key a turn. t.mu is held.
func (t *buildTurns) give(key string) {
	t.free--
	t.busy[key]++
}

// release takes back a turn of key's and hands out those free. t.mu is
// held.
func (t *buildTurns) release(key string) {
	t.free++
	if t.busy[key]--; t.busy[key] <= 0 {
		delete(t.busy, key)
	}
	for t.free > 0 {
		next := -1
		for i, k := range t.order {
			if t.busy[k] < t.perKey && (next < 0 || t.busy[k] < t.busy[t.order[next]]) {
				next = i
			}
		}
		if next < 0 {
			return // every key waiting holds its share
		}
		k := t.order[next]
		close(t.waiting[k][0])
		t.waiting[k] = t.waiting[k][1:]
		t.give(k)
		t.order = slices.Delete(t.order, next, next+1)
		if len(t.waiting[k]) > 0 {
			t.order = append(t.order, k)
		} else {
			delete(t.waiting, k)
		}
	}
}

// unqueue takes ch out of key's callers waiting, and reports whether it
// was there (false: it was given a turn). t.mu is held.
func (t *buildTurns) unqueue(key string, ch chan struct{}) bool {
	i := slices.Index(t.waiting[key], ch)
	if i < 0 {
		return false
	}
	t.waiting[key] = slices.Delete(t.waiting[key], i, i+1)
	if len(t.waiting[key]) == 0 {
		delete(t.waiting, key)
		t.order = slices.DeleteFunc(t.order, func(k string) bool { return k == key })
	}
	return true
}
