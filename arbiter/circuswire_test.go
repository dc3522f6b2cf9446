package arbiter

import (
	"context"
	"strings"
	"testing"

	"github.com/poold/poold/configs"
)

// handleJSON sends raw through Handle and returns the reply as sent.
func handleJSON(t *testing.T, h *harness, raw string) string {
	t.Helper()
	out, send := h.a.Handle(context.Background(), []byte(raw))
	if !send {
		t.Fatalf("%s: no reply", raw)
	}
	return string(out)
}

// TestGetNoKeysIsNoOptions: get with keys [] answers {"options": {}} as
// circusd does; poold refused it (errno 3). Without keys it is still an
// error naming the property.
func TestGetNoKeysIsNoOptions(t *testing.T) {
	h := start(t, &configs.Config{Watchers: []configs.Watcher{testWatcher("web", "sleep", 0)}}, Options{NoCgroups: true})
	if out := handleJSON(t, h, `{"id": "g", "command": "get", "properties": {"name": "web", "keys": []}}`); !strings.Contains(out, `"options":{}`) || !strings.Contains(out, `"status":"ok"`) {
		t.Errorf("get keys []: %s, want ok with \"options\":{}", out)
	}
	if out := handleJSON(t, h, `{"id": "g", "command": "get", "properties": {"name": "web"}}`); !strings.Contains(out, `"errno":3`) || !strings.Contains(out, `property \"keys\" must be a list`) {
		t.Errorf("get without keys: %s", out)
	}
}

// TestGlobalOptionsMulticastEndpoint: poold has no multicast discovery;
// globaloptions gives multicast_endpoint "" (off, as circusd with it
// empty) instead of errno 3 "no option".
func TestGlobalOptionsMulticastEndpoint(t *testing.T) {
	h := start(t, &configs.Config{Watchers: []configs.Watcher{testWatcher("web", "sleep", 0)}}, Options{NoCgroups: true})
	if out := handleJSON(t, h, `{"id": "g", "command": "globaloptions", "properties": {"option": "multicast_endpoint"}}`); !strings.Contains(out, `"options":{"multicast_endpoint":""}`) {
		t.Errorf("globaloptions multicast_endpoint: %s", out)
	}
	if opts := h.do("globaloptions", nil)["options"].(map[string]any); opts["multicast_endpoint"] != "" {
		t.Errorf("globaloptions: multicast_endpoint %v, want \"\"", opts["multicast_endpoint"])
	}
}
