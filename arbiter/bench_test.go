package arbiter

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/poold/poold/configs"
)

// BenchmarkRollingReload8 times a graceful reload of 8 workers whose
// readiness is a 50 ms delay, as a multiple of one worker's time from spawn
// to ready (the target: at most 8x plus 10 % at max_surge 1, and
// proportionally less with a larger surge; the default, 100%, starts all
// 8 at once).
func BenchmarkRollingReload8(b *testing.B) {
	for _, surge := range []configs.Surge{configs.SurgeOf(1), configs.SurgeOf(2), configs.SurgeOf(4), configs.DefaultMaxSurge()} {
		b.Run("surge="+surge.String(), func(b *testing.B) {
			w := testWatcher("web", "serve", 8)
			w.Sockets = []string{"web"}
			w.Readiness = "delay"
			w.ReadyDelay = 50 * time.Millisecond
			w.MaxSurge = surge
			h := start(b, &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{w}},
				Options{Log: hclog.NewNullLogger()})
			readyPids(b, h, "web", 8)

			// One worker's time to become ready.
			t0 := time.Now()
			h.do("incr", map[string]any{"name": "web", "waiting": true})
			one := time.Since(t0)
			h.do("decr", map[string]any{"name": "web", "waiting": true})

			ctx := context.Background()
			b.ResetTimer()
			var total time.Duration
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				r := h.a.Do(ctx, Request{Command: "reload", Properties: map[string]any{"name": "web", "waiting": true}})
				total += time.Since(t0)
				if r["status"] != "ok" {
					b.Fatal(r)
				}
			}
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/reload")
			b.ReportMetric(float64(one.Milliseconds()), "ms/one-ready")
			b.ReportMetric(float64(total)/float64(b.N)/float64(one), "x-one-ready")
		})
	}
}
