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
	// A bare number and numbers separated by commas or blanks are what
	// `poolctl set a no_respawn_exit_codes 3` and `... 3,4` send.
	for _, tc := range []struct {
		raw  any
		want []int
	}{
		{3.0, []int{3}},
		{"3", []int{3}},
		{"4,3", []int{3, 4}},
		{" 4, 3 0 ", []int{0, 3, 4}},
		{"", nil},
	} {
		w, err := WatcherFromOptions("a", "/bin/true", map[string]any{"no_respawn_exit_codes": tc.raw}, nil)
		if err != nil || !slices.Equal(w.NoRespawnExitCodes, tc.want) {
			t.Errorf("%#v: got %v, %v; want %v", tc.raw, w.NoRespawnExitCodes, err, tc.want)
		}
	}
	for _, tc := range []struct {
		raw  any
		want string
	}{
		{[]any{256.0}, "no_respawn_exit_codes[0]: must be an exit status between 0 and 255, got 256"},
		{[]any{"x"}, "no_respawn_exit_codes[0]: must be an integer"},
		{256.0, "no_respawn_exit_codes[0]: must be an exit status between 0 and 255, got 256"},
		{"3,x", `no_respawn_exit_codes[1]: must be an integer, got "x" (in "3,x"); give exit statuses separated by commas, e.g. "3,4"`},
		{"3;4", `no_respawn_exit_codes[0]: must be an integer, got "3;4" (in "3;4")`},
		{"300", "no_respawn_exit_codes[0]: must be an exit status between 0 and 255, got 300"},
		{true, `no_respawn_exit_codes: must be a list of exit statuses (integers 0 to 255): a number, numbers separated by commas ("3,4") or a list ([3, 4]), got boolean true`},
	} {
		_, err := WatcherFromOptions("a", "/bin/true", map[string]any{"no_respawn_exit_codes": tc.raw}, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want %q", tc.raw, err, tc.want)
		}
	}
}
