package arbiter

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/poold/poold/configs"
)

// args goes out as one shell-quoted string (Circus's shape) and comes back
// through set or add as the same words.
func TestCircusArgsRoundTrip(t *testing.T) {
	for _, words := range [][]string{
		nil,
		{"--workers", "2", "wsgi:app"},
		{"-c", "sleep 3600 & wait; exec sleep 3600"},
		{"it's", `a "quoted" \\ word`, "$(pool.wid)", ""},
	} {
		s := configs.QuoteCommand(words)
		back, err := fromCircus(map[string]any{"args": s}, configs.Watcher{})
		if err != nil {
			t.Fatalf("%q -> %q: %v", words, s, err)
		}
		got, _ := back["args"].([]string)
		if len(words) == 0 && len(got) == 0 {
			continue
		}
		if !slices.Equal(got, words) {
			t.Errorf("%q -> %q -> %q", words, s, got)
		}
	}
}

// The options reply in Circus's shapes, as JSON sees them.
func TestCircusShapedOptions(t *testing.T) {
	w := configs.DefaultWatcher("web")
	w.Cmd, w.Args, w.Env = "/bin/sleep", []string{"3600"}, []string{"FOO=bar", "EMPTY=", "A=b=c"}
	b, err := json.Marshal(circusShaped(configs.WatcherOptions(w)))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	env, _ := got["env"].(map[string]any)
	if env["FOO"] != "bar" || env["EMPTY"] != "" || env["A"] != "b=c" || len(env) != 3 {
		t.Errorf("env %v, want a dict", got["env"])
	}
	if got["args"] != "3600" || got["stop_signal"] != 15.0 || got["uid"] != nil || got["gid"] != nil {
		t.Errorf("args %v stop_signal %v uid %v gid %v", got["args"], got["stop_signal"], got["uid"], got["gid"])
	}
	var raw map[string]json.RawMessage
	_ = json.Unmarshal(b, &raw)
	if string(raw["graceful_timeout"]) != "30.0" {
		t.Errorf("graceful_timeout written %s, want a float (30.0)", raw["graceful_timeout"])
	}
	// And back through set: the same spec.
	opts, err := fromCircus(got, configs.Watcher{})
	if err != nil {
		t.Fatal(err)
	}
	back, err := configs.ApplyOptions(w, opts, nil)
	if err != nil {
		t.Fatalf("set with Circus's shapes: %v", err)
	}
	if !slices.Equal(back.Args, w.Args) || back.StopSignal != w.StopSignal || back.UID != "" || len(back.Env) != 3 {
		t.Errorf("round trip: args %q stop_signal %v uid %q env %q", back.Args, back.StopSignal, back.UID, back.Env)
	}
}
