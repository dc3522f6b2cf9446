package arbiter

import (
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/watcher/spawn"
)

// TestFdGaugeCountsOnlyNearTheLimit: far from the limit, starts are let
// through on the estimate, with no readdir of /proc/self/fd (94 ms at
// 20,000 fds); near it, a start counts again, and one that would eat into
// FdReserve is refused as a want of fds; refused starts count again at
// most once per fdRecount.
func TestFdGaugeCountsOnlyNearTheLimit(t *testing.T) {
	open, counts := 100, 0
	var limit uint64 = 1 << 16
	g := fdGauge{
		count: func() (int, error) { counts++; return open, nil },
		limit: func() (uint64, bool) { return limit, true },
	}
	now := time.Unix(1000, 0)
	for range 5000 {
		if err := g.allow("web", now); err != nil {
			t.Fatal(err)
		}
		open += 2
		now = now.Add(time.Millisecond)
	}
	if counts != 1 {
		t.Errorf("%d counts for 5000 starts far from the limit, want 1", counts)
	}
	limit = uint64(open + fdsPerStart + FdReserve) // one more fits
	if err := g.allow("web", now); err != nil || counts != 2 {
		t.Fatalf("the last start that fits: %v (%d counts, want 2)", err, counts)
	}
	open += 2
	err := g.allow("web", now)
	var short *FdReserveError
	if !errors.As(err, &short) || !errors.Is(err, syscall.EMFILE) || !spawn.Lacked(err) || short.Open != open {
		t.Fatalf("a start into the reserve: %v, want an FdReserveError for %d open that spawn.Lacked takes", err, open)
	}
	t.Log(err)
	for range 100 { // slots retrying at the limit
		_ = g.allow("web", now)
	}
	if counts != 3 {
		t.Errorf("%d counts, want 3: refused starts within fdRecount count no more", counts)
	}
	open -= 20 // workers ended
	if err := g.allow("web", now.Add(fdRecount)); err != nil || counts != 4 {
		t.Errorf("a start once fds are free: %v (%d counts, want 4)", err, counts)
	}
}
