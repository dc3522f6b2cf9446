package zmqpub

import (
	"context"
	"errors"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/poold/poold/events"
	"github.com/poold/poold/events/zmqguard"
)

// (a) A SUB that never reads does not delay a healthy SUB: two stuck
// subscribers (a raw ZMTP peer with a tiny receive buffer, and a zmq4 SUB
// whose owner never calls Recv) while 48 MiB are published in lockstep
// with a healthy SUB, which must receive every event of every batch.
// Eviction is disabled so the stuck peers stay connected throughout.
func TestStuckSubscriberDoesNotDelayHealthy(t *testing.T) {
	for _, tc := range []struct{ name, ep string }{
		{"tcp", tcpEP()},
		{"ipc", ipcEP(t)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkLeaks(t)
			bus := events.NewBus(nil)
			p := New(tc.ep, bus, testLogger(t, nil), WithGuardOptions(zmqguard.Options{StallTimeout: time.Hour}))
			startPublisher(t, p)
			const probe = "watcher.probe" // under the healthy subscriber's only prefix: join proves it

			healthy := dial(t, p.Endpoint(), "watcher.")
			join(t, bus, healthy, probe)
			network, addr := addrOf(p.Endpoint())
			rawStuckPeer(t, bus, network, addr, "", probe)
			stuck := dial(t, p.Endpoint())
			join(t, bus, stuck, probe) // joined, and never read again

			blob := strings.Repeat("x", 16<<10)
			const batches, perBatch = 48, 64 // 48 MiB of payload
			var worst time.Duration
			for b := range batches {
				start := time.Now()
				var last uint64
				for range perBatch {
					last = bus.Publish("web", "spawn", map[string]any{"blob": blob}).Seq
				}
				var n int
				for n < perBatch {
					// A bound on progress (see TestBurstsArriveWhole).
					topic, raw, err := recvWithin(healthy, hang)
					if err != nil {
						t.Fatalf("batch %d: healthy subscriber got %d of %d events, then none for %v: %v (stats %+v)", b, n, perBatch, hang, err, p.Stats())
					}
					if topic == probe {
						continue
					}
					m, err := Decode(raw)
					if err != nil {
						t.Fatal(err)
					}
					if want := last - perBatch + 1 + uint64(n); uint64(m["seq"].(float64)) != want {
						t.Fatalf("batch %d: seq %v, want %d (gap)", b, m["seq"], want)
					}
					n++
				}
				worst = max(worst, time.Since(start))
			}
			st := p.Stats()
			t.Logf("slowest batch of %d x 16 KiB: %v; stats %+v", perBatch, worst, st)
			if st.Guard.Dropped == 0 {
				t.Errorf("no message was dropped for the stuck subscribers (stats %+v): were they stuck?", st)
			}
			if st.Guard.Evicted != 0 || st.Guard.Conns != 3 {
				t.Errorf("stats %+v: want 3 connections and no eviction", st)
			}
		})
	}
}

// (b) A connection that never speaks does not stop a new SUB from
// connecting. The handshake deadline is an hour, so the new SUB cannot
// be waiting for the silent one to time out.
func TestSilentConnectionDoesNotBlockNewSubscriber(t *testing.T) {
	for _, tc := range []struct{ name, ep string }{
		{"tcp", tcpEP()},
		{"ipc", ipcEP(t)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkLeaks(t)
			bus := events.NewBus(nil)
			p := New(tc.ep, bus, testLogger(t, nil), WithGuardOptions(zmqguard.Options{HandshakeTimeout: time.Hour}))
			startPublisher(t, p)

			network, addr := addrOf(p.Endpoint())
			var silent []net.Conn
			for range 3 {
				c, err := net.DialTimeout(network, addr, hang)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				silent = append(silent, c)
			}
			s := dial(t, p.Endpoint())
			join(t, bus, s, "arbiter.probe")
			bus.Publish("web", "start", nil)
			if topic, _ := recvNonProbe(t, s, "arbiter.probe"); topic != "watcher.web.start" {
				t.Fatalf("topic %q", topic)
			}
			if st := p.Stats().Guard; st.HandshakeTimeouts != 0 {
				t.Errorf("stats %+v: the silent connections were dropped, so this proves nothing", st)
			}
			for _, c := range silent {
				c.Close()
			}
		})
	}
}

// (c) A flood (200 MiB of payload) meets a stuck subscriber and a healthy
// one: poold's heap stays bounded and the losses are counted and logged.
//
// Eviction is off (StallTimeout an hour): the stuck peer's per-peer bound
// drops what does not fit, which is what this proves, and no timer races
// the healthy reader, which a starved test process can leave unscheduled
// for seconds (TestStuckSubscriberIsEvicted covers eviction). The wait
// after each wave is a bound on progress, as in TestBurstsArriveWhole.
func TestFloodWithStuckSubscriberStaysBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("floods 200 MiB")
	}
	checkLeaks(t)
	const heapBound = 64 << 20
	bus := events.NewBus(nil)
	var logs syncBuffer
	p := New(tcpEP(), bus, testLogger(t, &logs),
		WithReportInterval(50*time.Millisecond),
		WithGuardOptions(zmqguard.Options{StallTimeout: time.Hour}))
	startPublisher(t, p)
	const probe = "arbiter.probe"
	network, addr := addrOf(p.Endpoint())
	rawStuckPeer(t, bus, network, addr, "", probe)
	healthy := dial(t, p.Endpoint())
	join(t, bus, healthy, probe)

	// The healthy subscriber reads as fast as it can.
	var wg sync.WaitGroup
	var received int
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			if _, _, err := healthy.RecvRaw(context.Background()); err != nil {
				if !errors.Is(err, ErrClosed) {
					t.Errorf("healthy: %v", err)
				}
				return
			}
			received++
		}
	}()

	blob := strings.Repeat("y", 4<<10)
	fields := map[string]any{"blob": blob}
	const total = 200 << 20
	n := total / len(blob)
	// The bound is on growth: a Publisher that ran earlier in this test
	// binary leaves zmq4's parked sender holding its closed connections
	// (see the package doc), and with them their last buffers.
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var maxHeap uint64
	start := time.Now()
	for i := 1; i <= n; i++ {
		bus.Publish("web", "spawn", fields)
		if i%2048 != 0 {
			continue
		}
		// Flood in waves, so the 200 MiB go through Run and the sockets
		// and not only into bus drops; measure at each wave's end.
		waitHandled(t, p, uint64(i))
		runtime.GC()
		runtime.ReadMemStats(&ms)
		maxHeap = max(maxHeap, ms.HeapInuse)
	}
	elapsed := time.Since(start)
	runtime.GC()
	runtime.ReadMemStats(&ms)
	maxHeap = max(maxHeap, ms.HeapInuse)

	// Wait (bounded) until the losses show in the log.
	deadline := time.After(hang)
	poll := time.NewTicker(10 * time.Millisecond)
	defer poll.Stop()
	for !strings.Contains(logs.String(), "subscribers lost events") {
		select {
		case <-poll.C:
		case <-deadline:
			t.Fatalf("no warning logged; log:\n%s", logs.String())
		}
	}
	healthy.Close()
	wg.Wait()

	st := p.Stats()
	t.Logf("published %d events (%d MiB) in %v; HeapInuse after GC: %.1f MiB before, %.1f MiB at most; healthy received %d; stats %+v",
		n, total>>20, elapsed, float64(base)/(1<<20), float64(maxHeap)/(1<<20), received, st)
	if maxHeap > base+heapBound {
		t.Errorf("HeapInuse grew by %.1f MiB, bound %d MiB", float64(maxHeap-base)/(1<<20), heapBound>>20)
	}
	if st.Guard.Dropped+st.Guard.Evicted == 0 {
		t.Errorf("stats %+v: nothing dropped or evicted for the stuck subscriber", st)
	}
}

// waitHandled waits until Run has handled n events: handed to zmq4
// (Published), lost in the bus queue (Dropped) or skipped with no
// subscriber connected (unheard). It fails only when that count stays
// put for hang.
func waitHandled(t *testing.T, p *Publisher, n uint64) {
	t.Helper()
	handled := func() uint64 { st := p.Stats(); return st.Published + st.Dropped + p.unheard.Load() }
	last, moved := handled(), time.Now()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for last < n {
		<-tick.C
		if cur := handled(); cur != last {
			last, moved = cur, time.Now()
		} else if time.Since(moved) > hang {
			t.Fatalf("publisher stuck: %d of %d events handled, none for %v; unheard %d, stats %+v", last, n, hang, p.unheard.Load(), p.Stats())
		}
	}
}

// A stats tick is a burst: one message per process at once. Bursts up to
// the HWM reach a healthy subscriber whole (no silent zmq4 drop).
//
// The bound is on progress, not on a whole burst: each message must come
// within hang of the one before. A burst costs about 0.15 s of CPU under
// -race, so a test process that gets 1% of a core (a loaded 2-core
// machine shared by dozens of processes) needs 15 s for one, with gaps of
// at most about 4 s between messages; a bound on the whole burst failed
// there halfway through a burst that was still arriving.
func TestBurstsArriveWhole(t *testing.T) {
	checkLeaks(t)
	bus := events.NewBus(nil)
	p := New(tcpEP(), bus, testLogger(t, nil), WithConfigKey("stats_endpoint"))
	startPublisher(t, p)
	const probe = "stat.probe"
	s := dial(t, p.Endpoint(), "stat.")
	join(t, bus, s, probe)
	info := map[string]any{"cmdline": strings.Repeat("python app.py ", 20), "cpu": 1.5, "mem": 0.3, "mem_info1": "14M", "age": 12.5}
	const bursts, size = 10, 1000
	for b := range bursts {
		var first uint64
		for i := range size {
			ev := bus.PublishTopic("stat.web.1234", "web", "stat", info)
			if i == 0 {
				first = ev.Seq
			}
		}
		for i := 0; i < size; {
			topic, raw, err := recvWithin(s, hang)
			if err != nil {
				t.Fatalf("burst %d: %d of %d received, then none for %v: %v; stats %+v", b, i, size, hang, err, p.Stats())
			}
			if topic == probe {
				continue
			}
			m, err := Decode(raw)
			if err != nil {
				t.Fatal(err)
			}
			if seq := uint64(m["seq"].(float64)); seq != first+uint64(i) {
				t.Fatalf("burst %d: seq %d, want %d; stats %+v", b, seq, first+uint64(i), p.Stats())
			}
			i++
		}
	}
	if st := p.Stats(); st.Dropped != 0 || st.Guard.Dropped != 0 {
		t.Errorf("stats %+v: want no loss", st)
	}
}

// A subscriber that takes no byte for StallTimeout is evicted and
// counted; the healthy one goes on.
func TestStuckSubscriberIsEvicted(t *testing.T) {
	checkLeaks(t)
	bus := events.NewBus(nil)
	p := New(ipcEP(t), bus, testLogger(t, nil), WithGuardOptions(zmqguard.Options{StallTimeout: 300 * time.Millisecond}))
	startPublisher(t, p)
	const probe = "watcher.probe" // under the healthy subscriber's only prefix: join proves it
	network, addr := addrOf(p.Endpoint())
	stuck := rawStuckPeer(t, bus, network, addr, "", probe)
	healthy := dial(t, p.Endpoint(), "watcher.")
	join(t, bus, healthy, probe)

	blob := strings.Repeat("z", 16<<10)
	deadline := time.Now().Add(hang)
	for p.Stats().Guard.Evicted == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("stuck subscriber never evicted; stats %+v", p.Stats())
		}
		// Keep data waiting for the stuck peer, in lockstep with the
		// healthy one.
		bus.Publish("web", "spawn", map[string]any{"blob": blob})
		if topic, _ := recvNonProbe(t, healthy, probe); topic != "watcher.web.spawn" {
			t.Fatalf("topic %q", topic)
		}
	}
	if !stuck.WaitClosed(hang) {
		t.Error("the evicted peer's connection is still open")
	}
	bus.Publish("web", "stop", nil)
	if topic, _ := recvNonProbe(t, healthy, probe); topic != "watcher.web.stop" {
		t.Fatalf("after the eviction: topic %q", topic)
	}
	t.Logf("stats %+v", p.Stats())
}
