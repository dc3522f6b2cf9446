package configs

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestMaxSurgeCountsAndShares(t *testing.T) {
	base, err := WatcherFromOptions("web", "/bin/app", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if base.MaxSurge != DefaultMaxSurge() || base.MaxSurge.Of(50) != 50 {
		t.Fatalf("default max_surge %v, %d of 50 workers; want 100%%, 50", base.MaxSurge, base.MaxSurge.Of(50))
	}
	good := []struct {
		raw  any
		want Surge
		of10 int // the surge for 10 workers
		of1  int
	}{
		{int64(3), SurgeOf(3), 3, 3},
		{3.0, SurgeOf(3), 3, 3}, // a number over the wire
		{"25%", Surge{Percent: 25}, 3, 1},
		{" 100% ", Surge{Percent: 100}, 10, 1},
		{"1%", Surge{Percent: 1}, 1, 1},
	}
	for _, g := range good {
		w, err := ApplyOptions(base, map[string]any{"max_surge": g.raw}, nil)
		if err != nil {
			t.Fatalf("max_surge %#v: %v", g.raw, err)
		}
		if w.MaxSurge != g.want || w.MaxSurge.Of(10) != g.of10 || w.MaxSurge.Of(1) != g.of1 {
			t.Errorf("max_surge %#v = %+v (%d of 10, %d of 1), want %+v (%d, %d)",
				g.raw, w.MaxSurge, w.MaxSurge.Of(10), w.MaxSurge.Of(1), g.want, g.of10, g.of1)
		}
		if back := WatcherOptions(w)["max_surge"]; back != g.want.wire() {
			t.Errorf("max_surge %#v shows as %#v", g.raw, back)
		}
	}
	bad := map[any]string{
		0.0:     `must be a number of workers >= 1 or a share of numprocesses such as "25%", got 0`,
		"0%":    `a share of numprocesses must be between "1%" and "100%", got string "0%"`,
		"150%":  `got string "150%"`,
		"lots%": `got string "lots%"`,
		"five":  `must be a number of workers >= 1 or a share of numprocesses such as "25%", got string "five"`,
		1.5:     `got number 1.5`,
	}
	for raw, want := range bad {
		_, err := ApplyOptions(base, map[string]any{"max_surge": raw}, nil)
		if err == nil || !strings.Contains(err.Error(), "max_surge: ") || !strings.Contains(err.Error(), want) {
			t.Errorf("max_surge %#v: error %v, want one containing %q", raw, err, want)
		}
	}
}

// An upgrade hands the config over as JSON, from the build before shares
// (max_surge a plain number) too.
func TestMaxSurgeJSON(t *testing.T) {
	for in, want := range map[string]Surge{`{"MaxSurge":1}`: SurgeOf(1), `{"MaxSurge":"25%"}`: {Percent: 25}} {
		var w Watcher
		if err := json.Unmarshal([]byte(in), &w); err != nil || w.MaxSurge != want {
			t.Errorf("%s: %+v, %v; want %+v", in, w.MaxSurge, err, want)
		}
		out, err := json.Marshal(Watcher{MaxSurge: want})
		if err != nil || !strings.Contains(string(out), in[1:len(in)-1]) {
			t.Errorf("%+v marshals to %s (%v), want it to hold %s", want, out, err, in)
		}
	}
	var w Watcher
	if err := json.Unmarshal([]byte(`{"MaxSurge":"lots"}`), &w); err == nil {
		t.Errorf("max_surge \"lots\" accepted: %+v", w.MaxSurge)
	}
}
