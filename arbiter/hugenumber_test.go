package arbiter

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/poold/poold/configs"
)

// TestHugeNumberKeepsTheID: a request with a number beyond float64 (400
// digits) is valid JSON, which circusd's Python reads. poold answered
// "request is not valid JSON", echoed the 400 digits, and lost the id
// (null), so a client matching replies by id could not tell which
// request failed. It is errno 3 naming the number, shortened, with the id
// as sent; nothing is done.
func TestHugeNumberKeepsTheID(t *testing.T) {
	h := start(t, &configs.Config{Watchers: []configs.Watcher{testWatcher("web", "sleep", 1)}}, Options{NoCgroups: true})
	huge := strings.Repeat("9", 400)
	for _, tc := range []struct {
		raw string
		id  any
	}{
		{`{"id":"x","command":"incr","properties":{"name":"web","nb":` + huge + `}}`, "x"},
		{`{"id":7,"command":"incr","properties":{"name":"web","nb":-` + huge + `}}`, 7.0},
		{`{"id":` + huge + `,"command":"incr","properties":{"name":"web"}}`, nil},
	} {
		out, send := h.a.Handle(context.Background(), []byte(tc.raw))
		var r map[string]any
		if err := json.Unmarshal(out, &r); err != nil || !send {
			t.Fatalf("reply %q (sent %v): %v", out, send, err)
		}
		reason := fmt.Sprint(r["reason"])
		if r["errno"] != float64(ErrnoBadProperty) || r["id"] != tc.id ||
			!strings.Contains(reason, "number poold cannot hold") || !strings.Contains(reason, "(400 characters)") && !strings.Contains(reason, "(401 characters)") {
			t.Errorf("request %.60s...: reply %v; want errno %d, id %v, and the number named, shortened", tc.raw, r, ErrnoBadProperty, tc.id)
		}
	}
	// Where the number starts, and an array is no request at all.
	for raw, want := range map[string]string{
		`{"id":1e400,"command":"status"}`: "number poold cannot hold, at byte 6: 1e400",
		`[1e400]`:                         "request must be a JSON object",
	} {
		out, _ := h.a.Handle(context.Background(), []byte(raw))
		if !strings.Contains(string(out), want) {
			t.Errorf("request %s: reply %s; want %q", raw, out, want)
		}
	}
	if n := h.do("numprocesses", map[string]any{"name": "web"})["numprocesses"]; n != 1 {
		t.Errorf("numprocesses after the refused incr: %v, want 1", n)
	}
}
