package configs

import (
	"slices"
	"strings"
	"testing"
)

func TestNoRespawnExitCodesOption(t *testing.T) {
	w, err := WatcherFromOptions("a", "/bin/true", map[string]any{"no_respawn_exit_codes": []any{3.0, 0.0, 3.0}}, nil)
	if err != nil || !slices.Equal(w.NoRespawnExitCodes, []int{0, 3}) {
		t.Fatalf("got %v, %v; want [0 3]", w.NoRespawnExitCodes, err)
	}
	if got := WatcherOptions(w)["no_respawn_exit_codes"]; !slices.Equal(got.([]int), []int{0, 3}) {
		t.Fatalf("wire form %v", got)
	}
	for _, tc := range []struct {
		raw  any
		want string
	}{
		{[]any{256.0}, "no_respawn_exit_codes[0]: must be an exit status between 0 and 255, got 256"},
		{[]any{"x"}, "no_respawn_exit_codes[0]: must be an integer"},
		{"0", "no_respawn_exit_codes: must be a list of exit statuses"},
	} {
		_, err := WatcherFromOptions("a", "/bin/true", map[string]any{"no_respawn_exit_codes": tc.raw}, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want %q", tc.raw, err, tc.want)
		}
	}
}
