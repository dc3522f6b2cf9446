package configs

import "testing"

func TestReadyMinOf(t *testing.T) {
	for _, c := range []struct {
		r      ReadyMin
		target int
		want   int
	}{
		{ReadyMin{}, 4, 4},
		{ReadyMin{N: 75, Percent: true}, 4, 3},
		{ReadyMin{N: 50, Percent: true}, 3, 2}, // rounded up
		{ReadyMin{N: 1, Percent: true}, 4, 1},
		{ReadyMin{N: 100, Percent: true}, 4, 4},
		{ReadyMin{N: 2}, 4, 2},
		{ReadyMin{N: 9}, 4, 4}, // never more than the pool
		{ReadyMin{N: 2}, 0, 0},
	} {
		if got := c.r.Of(c.target); got != c.want {
			t.Errorf("ready_min %q of %d workers: %d, want %d", c.r, c.target, got, c.want)
		}
	}
}
