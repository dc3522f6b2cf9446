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
				c.send("view", "console_view", map[string]any{"names": []string{"w000", "w001", "w002"}})
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
