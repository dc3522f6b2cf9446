package arbiter

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/poold/poold/configs"
)

// TestRequestWithADuplicateKeyIsRefused: {"command": "status", "command":
// "quit"} answered ok and poold quit: decoding keeps the last key, where a
// proxy or filter reading the first sees status (r55b chaos review). A
// config file with a key given twice is refused; a request now is too,
// errno 1 naming the key and where it came first, with its id, and
// nothing runs.
func TestRequestWithADuplicateKeyIsRefused(t *testing.T) {
	h := start(t, &configs.Config{Watchers: []configs.Watcher{testWatcher("web", "sleep", 1)}}, Options{NoCgroups: true})
	h.spawned()
	for raw, want := range map[string]string{
		`{"id":"a","command":"status","command":"quit"}`:                              `at line 1, column 30: command: key "command" is given again here (first at line 1, column 11)`,
		`{"id":"b","command":"incr","properties":{"name":"web","name":"web","nb":5}}`: `properties.name: key "name" is given again here`,
		`{"id":"d","command":"status","comm\u0061nd":"quit"}`:                         `command: key "command" is given again here`,
		`{"id":"c","command":"incr","id":"c","properties":{"name":"web"}}`:            `id: key "id" is given again here`,
	} {
		out, send := h.a.Handle(context.Background(), []byte(raw))
		var r map[string]any
		if err := json.Unmarshal(out, &r); err != nil || !send {
			t.Fatalf("reply %q (sent %v): %v", out, send, err)
		}
		if reason := fmt.Sprint(r["reason"]); r["errno"] != float64(ErrnoBadJSON) || r["id"] != raw[7:8] || !strings.Contains(reason, want) {
			t.Errorf("request %s: reply %v; want errno %d, id %q, saying %q", raw, r, ErrnoBadJSON, raw[7:8], want)
		}
	}
	select {
	case <-h.a.Done():
		t.Fatal("poold quit on a request giving command twice")
	default:
	}
	if n := h.do("numprocesses", map[string]any{"name": "web"})["numprocesses"]; n != 1 {
		t.Errorf("numprocesses after the refused incrs: %v, want 1", n)
	}
	// The same keys in different objects, or differing in case, are no repeat.
	out, _ := h.a.Handle(context.Background(), []byte(`{"command":"status","Command":"quit","properties":{"name":"web"}}`))
	if strings.Contains(string(out), `"status":"error"`) || !strings.Contains(string(out), `"slots"`) {
		t.Errorf("status web with a Command key too: %s, want web's status", out)
	}
}

// BenchmarkDecodeRequest is the cost of reading one request frame as
// Handle does, the duplicate-key walk included: a status, and an add with
// 200 env entries.
func BenchmarkDecodeRequest(b *testing.B) {
	env := map[string]any{}
	for i := range 200 {
		env[fmt.Sprintf("VAR_%d", i)] = strings.Repeat("x", 40)
	}
	add, _ := json.Marshal(map[string]any{"id": "1", "command": "add", "properties": map[string]any{
		"name": "web", "cmd": "/bin/app", "options": map[string]any{"env": env, "numprocesses": 4}}})
	for _, tc := range []struct {
		name string
		raw  []byte
	}{
		{"status", []byte(`{"id":"0123456789abcdef","command":"status","properties":{"name":"web"}}`)},
		{"add200env", add},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(tc.raw)))
			for b.Loop() {
				if _, err := DecodeRequest(tc.raw); err != nil {
					b.Fatal(err)
				}
				if err := CheckDuplicates(tc.raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
