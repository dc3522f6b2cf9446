package zmqpub

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/events"
	"github.com/poold/poold/events/zmqguard"
	"github.com/poold/poold/watcher/proctest"
)

// A subscriber that falls behind shows, by itself and with its address:
// Subscribers lists what is queued for it and what it lost, and the log
// names it (before, only totals for all subscribers were logged, and a
// subscriber 27,000 events behind showed nowhere until it lost some). Its
// backlog stays bounded by MaxBuffered, and the healthy subscriber loses
// nothing.
func TestLaggingSubscriberIsNamed(t *testing.T) {
	checkLeaks(t)
	bus := events.NewBus(nil)
	logs := &syncBuffer{}
	const bound = 256 << 10
	p := New(ipcEP(t), bus, testLogger(t, logs), WithReportInterval(20*time.Millisecond),
		WithGuardOptions(zmqguard.Options{StallTimeout: time.Hour, MaxBuffered: bound}))
	startPublisher(t, p)
	const probe = "watcher.probe"
	network, addr := addrOf(p.Endpoint())
	rawStuckPeer(t, bus, network, addr, "", probe) // reads no more: it falls behind
	healthy := dial(t, p.Endpoint(), "watcher.")
	join(t, bus, healthy, probe)

	blob := strings.Repeat("z", 4<<10)
	me := fmt.Sprintf("pid %d", os.Getpid())
	proctest.Eventually(t, "the lagging subscriber to lose messages, and be named", func() bool {
		for range 64 {
			bus.Publish("web", "spawn", map[string]any{"blob": blob})
			if topic, _ := recvNonProbe(t, healthy, probe); topic != "watcher.web.spawn" {
				t.Fatalf("healthy subscriber got %q", topic)
			}
		}
		subs := p.Subscribers()
		return len(subs) == 2 && subs[0].Dropped > 0 &&
			strings.Contains(logs.String(), "subscriber falls behind") && strings.Contains(logs.String(), me)
	})
	subs := p.Subscribers()
	lag, ok := subs[0], subs[1]
	if lag.Queued == 0 || lag.Queued > 2*bound || !strings.Contains(lag.Peer.String(), me) {
		t.Errorf("lagging subscriber: %+v; want up to %d bytes queued, peer with %q", lag, 2*bound, me)
	}
	if ok.Dropped != 0 {
		t.Errorf("healthy subscriber lost %d messages: %+v", ok.Dropped, ok)
	}
	if st := p.Stats(); st.Guard.Dropped != lag.Dropped {
		t.Errorf("per-subscriber drops %d, total %d", lag.Dropped, st.Guard.Dropped)
	}
}
