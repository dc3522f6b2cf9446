package arbiter

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/poold/poold/configs"
)

// TestAbsurdPropertiesAnswerAlike: what a fuzzing client sent was taken
// in surprising ways. A number as a name or cmd was made a string
// through a float64 (2^63-1 created watcher 9223372036854776000, -0.0
// watcher "-0"); circusd fails on one too. The Circus booleans shell and
// close_child_* took any number as true (set shell 1e30 answered ok),
// which circusd and poold's own options refuse. A name with a [ and no ]
// (here with a NUL and a terminal escape) was "bad glob pattern" for
// start and restart but "not found" for status; the not-found reason
// carried the escape raw. Each is errno 3 now, the same reply in every
// command, with the name quoted when it is not plain text.
func TestAbsurdPropertiesAnswerAlike(t *testing.T) {
	h := start(t, &configs.Config{Watchers: []configs.Watcher{testWatcher("web", "sleep", 1)}}, Options{})
	cmd, _ := json.Marshal(testWatcher("x", "sleep", 1).Cmd)
	ctrl := `web\u0000\u001b[2J\n`
	quoted := `program "web\x00\x1b[2J\n" not found`
	for _, tc := range []struct{ raw, reason string }{
		{`{"command": "add", "properties": {"name": 9223372036854775807, "cmd": ` + string(cmd) + `}}`, `property "name" must be a string, got 9223372036854776000; put it in quotes`},
		{`{"command": "add", "properties": {"name": -0.0, "cmd": ` + string(cmd) + `}}`, `property "name" must be a string, got -0`},
		{`{"command": "add", "properties": {"name": "big", "cmd": 1e30}}`, `property "cmd" must be a string, got 1e+30`},
		{`{"command": "status", "properties": {"name": 5}}`, `property "name" must be a string, got 5`},
		{`{"command": "set", "properties": {"name": "web", "options": {"shell": 1e30}}}`, "shell: must be true or false, got 1e+30"},
		{`{"command": "set", "properties": {"name": "web", "options": {"close_child_stdout": -1}}}`, "close_child_stdout: must be true or false, got -1"},
		{`{"command": "add", "properties": {"name": "sh", "cmd": ` + string(cmd) + `, "options": {"shell": 1}}}`, "shell: must be true or false, got 1"},
		{`{"command": "status", "properties": {"name": "` + ctrl + `"}}`, quoted},
		{`{"command": "list", "properties": {"name": "` + ctrl + `"}}`, quoted},
		{`{"command": "start", "properties": {"name": "` + ctrl + `"}}`, quoted},
		{`{"command": "restart", "properties": {"name": "` + ctrl + `"}}`, quoted},
		{`{"command": "stop", "properties": {"name": "web["}}`, `program web[ not found`},
	} {
		out, send := h.a.Handle(context.Background(), []byte(tc.raw))
		if !send {
			t.Errorf("%s: no reply", tc.raw)
			continue
		}
		var r map[string]any
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatalf("%s: reply %q: %v", tc.raw, out, err)
		}
		reason, _ := r["reason"].(string)
		if r["errno"] != float64(ErrnoBadProperty) || !strings.Contains(reason, tc.reason) {
			t.Errorf("%s: reply %v, want errno 3 saying %q", tc.raw, r, tc.reason)
		}
		if strings.ContainsAny(reason, "\x00\x1b") {
			t.Errorf("%s: reason %q holds a raw control character", tc.raw, reason)
		}
	}
	if ws := h.do("list", nil)["watchers"].([]string); strings.Join(ws, ",") != "web" {
		t.Errorf("watchers after the refused adds: %v", ws)
	}
	if o := h.do("get", map[string]any{"name": "web", "keys": []any{"shell"}})["options"]; strings.Contains(jsonText(t, o), "true") {
		t.Errorf("a refused set shell changed it: %s", jsonText(t, o))
	}
}

func jsonText(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
