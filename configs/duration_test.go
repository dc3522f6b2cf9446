package configs

import (
	"math"
	"testing"
	"time"
)

// TestDurationAtTheLimit: a number of seconds is checked against the
// largest time.Duration before it is rounded to nanoseconds. At the limit
// itself (9223372036.854776, which rounds to 2^63 ns) the check passed and
// the conversion overflowed into a negative duration. Such values are now
// refused; the largest that fits is kept.
func TestDurationAtTheLimit(t *testing.T) {
	for _, tc := range []struct {
		raw  any
		want time.Duration
		ok   bool
	}{
		{9223372036.854776, 0, false},
		{-9223372036.854776, 0, false},
		{"9223372036.854776", 0, false},
		{9223372036.0, 9223372036 * time.Second, true},
		{"9223372036", 9223372036 * time.Second, true},
		{2.5, 2500 * time.Millisecond, true},
		{math.Inf(1), 0, false},
		{math.NaN(), 0, false},
	} {
		d := &decoder{ps: &problems{}}
		got, ok := d.duration("k", tc.raw)
		if ok != tc.ok || (ok && got != tc.want) || (!ok && got != 0) {
			t.Errorf("duration(%v) = %v, %v; want %v, %v", tc.raw, got, ok, tc.want, tc.ok)
		}
		if !ok && len(d.ps.list) == 0 {
			t.Errorf("duration(%v) refused without a problem recorded", tc.raw)
		}
	}
}
