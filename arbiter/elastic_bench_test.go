package arbiter

import (
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/poold/poold/watcher/proctest"
)

// BenchmarkOnDemandDetection times, for a connection arriving at a cold
// on_demand pool: detect-µs, from the client's connect to poold's scale
// decision (epoll wake, the monitor's message, the loop's decision);
// spawn-µs, to the worker forked and exec'd (the spawner's thread and
// poold's memfd exec stub included); ttfb-ms, from the connect to the first
// byte of the answer (the worker's own start-up included); warm-ms, the
// same request to the pool once warm. ttfb minus warm minus detect is the
// worker's start-up.
func BenchmarkOnDemandDetection(b *testing.B) {
	h := start(b, onDemandConfig("serve", 1, 0), Options{Log: hclog.NewNullLogger()})
	addr := h.socketAddr("front")
	var detect, spawned, ttfb, warm time.Duration
	for i := 0; i < b.N; i++ {
		proctest.Eventually(b, "a cold pool", func() bool {
			return h.do("numprocesses", map[string]any{"name": "lazy"})["numprocesses"] == 0
		})
		t0 := time.Now()
		done := make(chan error, 1)
		go func() {
			body, err := get(addr, "/")
			if err == nil && !strings.HasPrefix(body, "pid=") {
				err = errBody(body)
			}
			done <- err
		}()
		sc := h.scaleTo(1)
		ev := h.next("spawn", nil)
		detect += sc.Time.Sub(t0)
		spawned += ev.Time.Sub(t0)
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		ttfb += time.Since(t0)
		t1 := time.Now()
		if _, err := get(addr, "/"); err != nil {
			b.Fatal(err)
		}
		warm += time.Since(t1)
		h.do("decr", map[string]any{"name": "lazy", "waiting": true})
	}
	n := float64(b.N)
	b.ReportMetric(float64(detect.Microseconds())/n, "detect-µs")
	b.ReportMetric(float64(spawned.Microseconds())/n, "spawn-µs")
	b.ReportMetric(float64(ttfb.Microseconds())/n/1000, "ttfb-ms")
	b.ReportMetric(float64(warm.Microseconds())/n/1000, "warm-ms")
}

type errBody string

func (e errBody) Error() string { return "unexpected body " + string(e) }
