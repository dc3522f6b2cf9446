package zmqpub

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/poold/poold/events"
)

// BenchmarkThroughputWithStuckSubscriber: events/s that reach a healthy
// subscriber while another one never reads. The producer keeps at most
// a window of events in flight, so nothing is dropped for the healthy one.
// instance= says whether the events carry poold's instance, as the
// lifecycle stream's do (26 bytes more per payload).
func BenchmarkThroughputWithStuckSubscriber(b *testing.B) {
	for _, tc := range []struct {
		name, ep string
		instance bool
	}{
		{"tcp/instance=false", tcpEP(), false},
		{"tcp/instance=true", tcpEP(), true},
		{"ipc/instance=false", ipcEP(b), false},
		{"ipc/instance=true", ipcEP(b), true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			bus := events.NewBus(nil)
			if tc.instance {
				bus.SetInstance(events.NewInstance())
			}
			p := New(tc.ep, bus, nil)
			startPublisher(b, p)
			const probe = "arbiter.probe"
			network, addr := addrOf(p.Endpoint())
			rawStuckPeer(b, bus, network, addr, "", probe)
			healthy := dial(b, p.Endpoint(), "watcher.", probe)
			join(b, bus, healthy, probe)

			const window = 512
			tokens := make(chan struct{}, window)
			readErr := make(chan error, 1)
			go func() {
				for {
					topic, _, err := healthy.RecvRaw(context.Background())
					if err != nil {
						readErr <- err
						return
					}
					if topic != probe {
						<-tokens
					}
				}
			}()
			fields := map[string]any{"process_pid": 4242, "process_id": 7, "exit_code": 0, "reason": "exited"}
			hangT := time.NewTimer(time.Minute)
			defer hangT.Stop()
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				select {
				case tokens <- struct{}{}:
				case <-hangT.C:
					b.Fatalf("healthy subscriber stalled; stats %+v", p.Stats())
				}
				bus.Publish("web", "reap", fields)
			}
			tick := time.NewTicker(50 * time.Microsecond)
			defer tick.Stop()
			for len(tokens) > 0 { // the last window arrives
				select {
				case <-hangT.C:
					b.Fatalf("healthy subscriber stalled; stats %+v", p.Stats())
				case <-tick.C:
				}
			}
			el := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/el.Seconds(), "events/s")
			st := p.Stats()
			b.ReportMetric(float64(st.Guard.Dropped), "stuck-drops")
			healthy.Close()
			<-readErr
		})
	}
}

// BenchmarkLatency: publish on the bus to receive by a SUB on loopback,
// one event at a time.
func BenchmarkLatency(b *testing.B) {
	for _, tc := range []struct{ name, ep string }{
		{"tcp", tcpEP()},
		{"ipc", ipcEP(b)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			bus := events.NewBus(nil)
			p := New(tc.ep, bus, nil)
			startPublisher(b, p)
			const probe = "arbiter.probe"
			s := dial(b, p.Endpoint(), "watcher.", probe)
			join(b, bus, s, probe)
			fields := map[string]any{"process_pid": 4242, "process_id": 7}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				t0 := time.Now()
				bus.Publish("web", "spawn", fields)
				for {
					topic, _, err := s.RecvRaw(ctx)
					if err != nil {
						b.Fatal(err)
					}
					if topic != probe {
						break
					}
				}
				lat = append(lat, time.Since(t0))
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2])/1e3, "median-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100])/1e3, "p99-µs")
		})
	}
}
