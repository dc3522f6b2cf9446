package arbiter

import (
	"testing"

	"github.com/poold/poold/configs"
)

// TestCircusHooks maps set's hooks.NAME keys onto hooks, keeping the
// watcher's other hooks, and refuses what poold cannot run.
func TestCircusHooks(t *testing.T) {
	base := configs.DefaultWatcher("w")
	base.Hooks = map[string]string{"before_start": "/bin/true"}
	for _, tc := range []struct {
		name string
		in   map[string]any
		want map[string]any
		err  string
	}{
		{name: "one hook, others kept", in: map[string]any{"hooks.after_spawn": "/usr/bin/notify spawned, false"},
			want: map[string]any{"hooks": map[string]any{"before_start": "/bin/true", "after_spawn": "/usr/bin/notify spawned"}}},
		{name: "empty removes", in: map[string]any{"hooks.before_start": ""}, want: map[string]any{"hooks": map[string]any{}}},
		{name: "with a hooks object", in: map[string]any{"hooks": map[string]any{"after_stop": "/a"}, "hooks.before_stop": "/b"},
			want: map[string]any{"hooks": map[string]any{"after_stop": "/a", "before_stop": "/b"}}},
		{name: "both ways", in: map[string]any{"hooks": map[string]any{"after_stop": "/a"}, "hooks.after_stop": "/b"}, err: "hooks.after_stop and hooks.after_stop both set the same hook"},
		{name: "unknown hook", in: map[string]any{"hooks.extended_stats": "/a"}, err: "poold has no extended_stats hook"},
		{name: "python", in: map[string]any{"hooks.after_start": "app.hooks.ping"}, err: "app.hooks.ping is a Python callable"},
		{name: "ignore_failure", in: map[string]any{"hooks.after_start": "/a, yes"}, err: "ignore_failure"},
		{name: "not a string", in: map[string]any{"hooks.after_start": 3.0}, err: "must be a string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkMapped(t, circusHooks(tc.in, base), tc.in, tc.want, tc.err)
		})
	}
}
