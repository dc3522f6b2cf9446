package arbiter

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/watcher/proctest"
)

// TestWokenPoolIsNotFlappingForAnOldCrash: an on_demand pool whose
// worker crashed twice, then idled back to 0 (poold stopped that worker
// on purpose), is woken again much later. Its new worker is no respawn
// after a death, so the pool is active, not "flapping" with the idle
// stop's "exited with status 0" as the crash.
func TestWokenPoolIsNotFlappingForAnOldCrash(t *testing.T) {
	cfg := onDemandConfig("serve", 1, 2*time.Second)
	cfg.Watchers[0].BackoffMin = 10 * time.Millisecond
	h := start(t, cfg, Options{})
	addr := h.socketAddr("front")
	if _, err := getWithin(addr, hang); err != nil {
		t.Fatal(err)
	}
	h.scaleTo(1)
	h.next("spawn", nil)
	c := &http.Client{Timeout: hang, Transport: &http.Transport{DisableKeepAlives: true}}
	for i := 0; i < 2; i++ {
		resp, err := c.Get("http://" + addr + "/crash")
		if err != nil {
			t.Fatalf("crash %d: %v", i+1, err)
		}
		resp.Body.Close()
		h.next("spawn", nil) // its replacement after a short backoff
	}
	if st := h.do("status", map[string]any{"name": "lazy"})["state"]; st != "flapping" {
		t.Fatalf("status %v after two early deaths in a row, want flapping", st)
	}
	h.scaleTo(0) // idle_timeout: poold stops the running worker on purpose
	proctest.Eventually(t, "no worker left", func() bool {
		return h.do("numprocesses", map[string]any{"name": "lazy"})["numprocesses"] == 0
	})
	if _, err := getWithin(addr, hang); err != nil {
		t.Fatal(err)
	}
	h.scaleTo(1)
	// "starting" until poold has seen its worker ready (it may have
	// served the request a moment before), then "active"; never flapping.
	var rep map[string]any
	proctest.Eventually(t, "the woken pool active", func() bool {
		rep = h.do("status", map[string]any{"name": "lazy"})
		if st := rep["status"]; st != "active" && st != "starting" {
			t.Fatalf("status %v (%v) of a pool woken after an idle stop, want starting, then active", st, rep["reason"])
		}
		return rep["status"] == "active"
	})
	if r, _ := rep["reason"].(string); strings.Contains(r, "flapping") {
		t.Errorf("reason %q, want none", r)
	}
}
