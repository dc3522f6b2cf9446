package watcher

import (
	"testing"
	"time"

	"github.com/poold/poold/configs"
)

func TestCrashPolicy(t *testing.T) {
	p := CrashPolicy{
		Backoff:  Backoff{Min: 100 * time.Millisecond, Max: time.Second, Reset: 10 * time.Second},
		Early:    10 * time.Second,
		Attempts: 3, RetryIn: 7 * time.Second, MaxRetry: 1,
	}
	const quick = time.Millisecond
	for _, tc := range []struct {
		name   string
		in     Counters
		uptime time.Duration
		want   Counters
		act    Action
		delay  time.Duration
	}{
		{"long-lived death resets and respawns at once", Counters{Streak: 2, Pauses: 1}, time.Minute, Counters{}, Respawn, 0},
		{"exactly Early is not early", Counters{Streak: 2}, 10 * time.Second, Counters{}, Respawn, 0},
		{"first early death backs off Min", Counters{}, quick, Counters{Streak: 1}, BackOff, 100 * time.Millisecond},
		{"second backs off 2*Min", Counters{Streak: 1}, quick, Counters{Streak: 2}, BackOff, 200 * time.Millisecond},
		{"Attempts-th in a row pauses and starts a new streak", Counters{Streak: 2}, quick, Counters{Pauses: 1}, Pause, 7 * time.Second},
		{"a full streak after MaxRetry pauses gives up", Counters{Streak: 2, Pauses: 1}, quick, Counters{Streak: 3, Pauses: 1}, GiveUp, 0},
		{"a streak below Attempts after pauses still backs off", Counters{Pauses: 1}, quick, Counters{Streak: 1, Pauses: 1}, BackOff, 100 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, v := p.Next(tc.in, tc.uptime)
			if got != tc.want || v.Action != tc.act || v.Delay != tc.delay {
				t.Errorf("Next(%+v, %v) = %+v, %v %v; want %+v, %v %v", tc.in, tc.uptime, got, v.Action, v.Delay, tc.want, tc.act, tc.delay)
			}
		})
	}
	// Attempts 0: never pauses, backs off up to Max forever.
	p.Attempts = 0
	c := Counters{}
	var v Verdict
	for i := 0; i < 20; i++ {
		c, v = p.Next(c, quick)
	}
	if v.Action != BackOff || v.Delay != time.Second {
		t.Errorf("attempts 0 after 20 deaths: %v %v, want backoff 1s", v.Action, v.Delay)
	}
}

// A slot fed instant deaths with the default settings gives up within the
// documented bound (README: crash policy), counting the delays it asks for.
func TestDefaultPolicyGivesUpInBoundedTime(t *testing.T) {
	s := configs.DefaultWatcher("w")
	p := policyOf(s)
	p.Backoff.Jitter = 0
	var total time.Duration
	c := Counters{}
	for deaths := 1; ; deaths++ {
		var v Verdict
		c, v = p.Next(c, 0)
		if v.Action == GiveUp {
			break
		}
		total += v.Delay
		if deaths > 1000 {
			t.Fatal("never gave up")
		}
	}
	if total != p.GiveUpAfter() || total > 2*time.Minute {
		t.Errorf("gave up after %v of delays; GiveUpAfter says %v; the README promises under 2 minutes", total, p.GiveUpAfter())
	}
	t.Logf("default policy gives up after %v", total)
}
