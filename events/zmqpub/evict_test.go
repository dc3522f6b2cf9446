package zmqpub

import (
	"encoding/json"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/events"
	"github.com/poold/poold/events/zmqguard"
	"github.com/poold/poold/events/zmqguard/zmtptest"
	"github.com/poold/poold/watcher/proctest"
)

// seqOf returns the seq of a raw [topic, payload] message, 0 if none.
func seqOf(msg [][]byte) uint64 {
	var p struct{ Seq uint64 }
	if len(msg) == 2 {
		_ = json.Unmarshal(msg[1], &p)
	}
	return p.Seq
}

// readRest reads what the peer can still read after the publisher closed
// its connection, and counts the whole messages after seq.
func readRest(t *testing.T, peer *zmtptest.Peer, after uint64) int {
	t.Helper()
	_ = peer.Conn.SetReadDeadline(time.Now().Add(hang))
	n := 0
	for {
		msg, err := peer.Recv()
		if err != nil {
			if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
				t.Fatalf("the evicted peer's connection is still open: %v", err)
			}
			return n
		}
		if seqOf(msg) > after {
			n++
		}
	}
}

// A stuck subscriber is evicted with messages still buffered for it: they
// are dropped, and counted (they were not: the log said peer_dropped=0
// evicted=1 and poold_events_dropped_total stayed 0). The buffer is far
// larger than what the test sends, so no message is refused for a full
// buffer: every count comes from the eviction. What the peer can still
// read (the kernel holds it) plus what was counted is what was sent to
// it, give or take the messages published between the eviction and the
// test noticing it (never handed to the conn) and one message split
// across two writes.
func TestEvictedSubscriberLossIsCounted(t *testing.T) {
	checkLeaks(t)
	bus := events.NewBus(nil)
	p := New(ipcEP(t), bus, testLogger(t, nil), WithGuardOptions(zmqguard.Options{
		StallTimeout: 300 * time.Millisecond, MaxBuffered: 1 << 30}))
	startPublisher(t, p)
	const probe = "watcher.probe" // under the healthy subscriber's only prefix: join proves it
	network, addr := addrOf(p.Endpoint())
	stuck, first := rawStuckPeerSeq(t, bus, network, addr, "", probe)
	healthy := dial(t, p.Endpoint(), "watcher.")
	join(t, bus, healthy, probe)

	blob := strings.Repeat("z", 16<<10)
	var last uint64
	deadline := time.Now().Add(hang)
	for p.Stats().Guard.Evicted == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("stuck subscriber never evicted; stats %+v", p.Stats())
		}
		last = bus.Publish("web", "spawn", map[string]any{"blob": blob}).Seq
		if topic, _ := recvNonProbe(t, healthy, probe); topic != "watcher.web.spawn" {
			t.Fatalf("topic %q", topic)
		}
	}
	got := readRest(t, stuck, first)
	// Its count is complete once the conn no longer counts as open.
	proctest.Eventually(t, "the evicted conn to end", func() bool { return p.Stats().Guard.Conns == 1 })
	st := p.Stats()
	lost := uint64(last-first) - uint64(got)
	const slack = 3
	if st.Dropped != 0 || st.Guard.Dropped > lost || st.Guard.Dropped+slack < lost {
		t.Errorf("sent %d messages to the stuck peer, it can read %d, so %d are lost; counted %d dropped, want %d (-%d)",
			last-first, got, lost, st.Guard.Dropped, lost, slack)
	}
	t.Logf("sent %d, readable %d, counted %d; stats %+v", last-first, got, st.Guard.Dropped, st)
}
