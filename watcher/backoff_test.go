package watcher

import (
	"testing"
	"time"
)

func TestBackoffDelay(t *testing.T) {
	b := Backoff{Min: 100 * time.Millisecond, Max: time.Second, Reset: 10 * time.Second}
	for _, tc := range []struct {
		failures int
		want     time.Duration
	}{
		{0, 0},
		{1, 100 * time.Millisecond},
		{2, 200 * time.Millisecond},
		{3, 400 * time.Millisecond},
		{4, 800 * time.Millisecond},
		{5, time.Second},
		{50, time.Second},
	} {
		if got := b.Delay(tc.failures); got != tc.want {
			t.Errorf("Delay(%d) = %v, want %v", tc.failures, got, tc.want)
		}
	}
}

func TestBackoffJitterStaysWithinBounds(t *testing.T) {
	b := Backoff{Min: 100 * time.Millisecond, Max: time.Second, Jitter: 0.1}
	for i := 0; i < 1000; i++ {
		d := b.Delay(3)
		if d < 400*time.Millisecond || d > 440*time.Millisecond {
			t.Fatalf("Delay(3) with 10%% jitter = %v, want 400ms..440ms", d)
		}
	}
}

func TestBackoffFailures(t *testing.T) {
	b := Backoff{Reset: 10 * time.Second}
	for _, tc := range []struct {
		prev   int
		uptime time.Duration
		want   int
	}{
		{0, time.Second, 1},
		{3, time.Second, 4},
		{3, 10 * time.Second, 0},
		{0, time.Hour, 0},
	} {
		if got := b.Failures(tc.prev, tc.uptime); got != tc.want {
			t.Errorf("Failures(%d, %v) = %d, want %d", tc.prev, tc.uptime, got, tc.want)
		}
	}
}

// A backoff_max near the largest duration made the doubling (and the
// jitter) wrap to a negative delay: a crash-looping slot restarted at
// once, every time, with no backoff at all.
func TestBackoffHugeMaxDoesNotOverflow(t *testing.T) {
	plain := Backoff{Min: 100 * time.Millisecond, Max: 2562047 * time.Hour, Reset: time.Hour}
	jittered := plain
	jittered.Jitter = 0.1
	prev := time.Duration(0)
	for n := 1; n <= 80; n++ {
		d := plain.Delay(n)
		if d < prev || d < plain.Min || d > plain.Max {
			t.Fatalf("delay after %d failures %v, after %d %v: want never shorter, within [Min, Max]", n, d, n-1, prev)
		}
		prev = d
		if j := jittered.Delay(n); j < d {
			t.Fatalf("delay with jitter after %d failures %v, under the %v without", n, j, d)
		}
	}
}
