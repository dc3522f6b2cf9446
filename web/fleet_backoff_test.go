package web

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path"
	"sync/atomic"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/proctest"
)

// A fleet host that was down for a while (the retries grew to seconds),
// came back, and then restarted once more was shown "unreachable" for as
// long as the grown backoff (up to 10 s) although it was back at once:
// the backoff was never reset after the host had been live. Each new
// outage now starts again from the shortest retry.
func TestFleetRetriesSoonAfterANewOutage(t *testing.T) {
	var down atomic.Bool
	var triesDown atomic.Int32
	host := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			triesDown.Add(1)
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"status": "error", "reason": "restarting"}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		switch path.Base(r.URL.Path) {
		case "events":
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		case "status":
			fmt.Fprint(w, `{"status": "ok", "statuses": {"web": "active"}}`)
		case "stats":
			fmt.Fprint(w, `{"status": "ok", "infos": {"web": {"101": {"cpu": 1.5}}}}`)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(func() {
		host.CloseClientConnections()
		host.Close()
	})
	ts := startServer(t, newFakeBackend(t, map[string]int{"local": 1}), configs.Web{}, func(tu *tunings) {
		tu.fleetResync = time.Hour
		tu.refreshDelay = time.Millisecond
		tu.retry = 50 * time.Millisecond
	})
	c := dialConsole(t, ts)
	c.next("hello", typeIs("hello"))
	c.send("add", "fleet_add", map[string]any{"url": host.URL, "token": "remote-token-0123"})
	if rep := c.reply("add"); rep["status"] != "ok" {
		t.Fatalf("fleet_add: %v", rep)
	}
	state := func(want string) func(map[string]any) bool {
		return func(m map[string]any) bool {
			hosts := asSlice(m["hosts"])
			return m["type"] == "fleet" && len(hosts) == 1 && hosts[0].(map[string]any)["state"] == want
		}
	}
	c.next("the host live", state("live"))

	// A long outage: 7 failed tries, waits 50 ms doubling to 3.2 s.
	down.Store(true)
	host.CloseClientConnections()
	c.next("the host unreachable", state("unreachable"))
	proctest.Eventually(t, "7 tries while the host is down", func() bool { return triesDown.Load() >= 7 })
	down.Store(false)
	c.next("the host live again", state("live"))

	// A restart: down for a moment, back at once.
	down.Store(true)
	host.CloseClientConnections()
	c.next("the host unreachable after its restart", state("unreachable"))
	down.Store(false)
	back := time.Now()
	c.next("the host live after its restart (the backoff of the earlier outage, 6.4 s or more, would keep it unreachable)", state("live"))
	if took := time.Since(back); took > 3*time.Second {
		t.Errorf("the host was back, but the fleet view showed it unreachable for %v more: the retry kept the backoff of the earlier outage", took.Round(time.Millisecond))
	}
}
