package web

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/poold/poold/configs"
)

// statsBytes reads a console's messages until n stats rounds came and
// returns the bytes of each message type.
func (w *wsClient) statsBytes(n int) map[string]int {
	w.t.Helper()
	bytes := map[string]int{}
	w.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	for rounds := 0; rounds < n; {
		_, b, err := w.c.ReadMessage()
		if err != nil {
			w.t.Fatalf("reading the console after %v: %v", bytes, err)
		}
		var m struct {
			Type string `json:"type"`
		}
		json.Unmarshal(b, &m)
		bytes[m.Type] += len(b)
		if m.Type == "stats" {
			rounds++
		}
	}
	return bytes
}

// BenchmarkStatsStream measures what the stats stream sends one console
// at 200 watchers of 10 workers each: one op is one stats round (poold
// samples once a second), "stats-B/round" its bytes, "stats-MB/min" a
// minute of them. page=old never says which cards it shows (a page of an
// older poold); page=3cards says it shows three. Run with -benchtime=20x.
func BenchmarkStatsStream(b *testing.B) {
	spec := map[string]int{}
	for i := range 200 {
		spec[fmt.Sprintf("w%03d", i)] = 10
	}
	fake := newFakeBackend(b, spec)
	ts := startServer(b, fake, configs.Web{}, nil)
	for _, page := range []string{"old", "3cards"} {
		b.Run("page="+page, func(b *testing.B) {
			c := dialConsole(b, ts)
			c.loadedState()
			if page != "old" {
				c.appliesSyncs()
				// As the page sends it: since, so chart points follow the view too.
				c.send("view", "console_view", map[string]any{"names": []string{"w000", "w001", "w002"}, "since": map[string]any{}})
			}
			fake.Sample(true) // a round to settle what the page asked
			c.statsBytes(1)
			var total int
			for b.Loop() {
				fake.Sample(true)
				total += c.statsBytes(1)["stats"]
			}
			perRound := float64(total) / float64(b.N)
			b.ReportMetric(perRound, "stats-B/round")
			b.ReportMetric(perRound*60/1e6, "stats-MB/min")
			c.c.Close()
		})
	}
}

// TestStatsOnlyForCardsShown: every console got every worker's samples
// each round, 16-18 MB a minute per tab at 2,000 workers, though a page
// draws the tables of the cards in view only. A page that says which
// cards it shows gets their samples only, without what a process keeps
// for its life, and every watcher's chart point; a card it starts to
// show comes whole at once. A page that never says (an older poold's)
// gets everything whole, as before.
func TestStatsOnlyForCardsShown(t *testing.T) {
	t.Parallel()
	fake := newFakeBackend(t, map[string]int{"web": 2, "worker": 2, "other": 2})
	ts := startServer(t, fake, configs.Web{}, nil)
	old, cur := dialConsole(t, ts), dialConsole(t, ts)
	old.loadedState()
	cur.loadedState()
	cur.send("v1", "console_view", map[string]any{"names": []string{"web"}})
	if r := cur.reply("v1"); r["status"] != "ok" {
		t.Fatalf("console_view: %v", r)
	}
	fake.Sample(true)
	m := cur.next("a stats round", func(m map[string]any) bool { return m["type"] == "stats" && m["points"] != nil })
	samples, _ := m["samples"].(map[string]any)
	if len(samples) != 1 || samples["web"] == nil || m["procs"] != nil {
		t.Fatalf("a page showing web got samples of %v (procs %v), want web's only", keysOf(samples), m["procs"] != nil)
	}
	for pid, s := range samples["web"].(map[string]any) {
		p := s.(map[string]any)
		if p["cpu"] == nil || p["mem_info1"] == nil || p["pid"] != nil || p["started"] != nil || p["age"] != nil {
			t.Errorf("web's sample of %s: %v; want cpu and memory without pid, start or age", pid, p)
		}
	}
	if pts, _ := m["points"].(map[string]any); len(pts) != 3 {
		t.Errorf("chart points for %v, want every watcher's", keysOf(pts))
	}
	whole := old.next("a stats round", func(m map[string]any) bool { return m["type"] == "stats" && m["points"] != nil })
	if procs, _ := whole["procs"].(map[string]any); len(procs) != 3 {
		t.Errorf("a page that never said what it shows got procs of %v, want all 3", keysOf(procs))
	}

	cur.send("v2", "console_view", map[string]any{"names": []string{"web", "worker"}})
	m = cur.next("worker's processes", func(m map[string]any) bool { return m["type"] == "stats" && m["procs"] != nil })
	procs := m["procs"].(map[string]any)
	if len(procs) != 1 || len(procs["worker"].(map[string]any)) != 2 {
		t.Fatalf("a card shown since got %v, want worker's 2 processes whole", procs)
	}
	for _, p := range procs["worker"].(map[string]any) {
		if p.(map[string]any)["pid"] == nil {
			t.Errorf("worker's process came without its pid: %v", p)
		}
	}
}
