package zmqguard_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/go-zeromq/zmq4"

	"github.com/poold/poold/events/zmqguard"
	"github.com/poold/poold/watcher/proctest"
)

// Many stuck subscribers together must not hold MaxBuffered (4 MiB) each:
// 16 of them would pin 64 MiB, and a few hundred (a fleet's stuck
// circus-top sessions, or one local user opening connections) gigabytes,
// for StallTimeout. The Guard's buffers together stay near
// MaxBufferedTotal (32 MiB), and a subscriber that keeps up loses nothing.
// StallTimeout is an hour so that nobody is evicted.
func TestPubManyStuckSubscribersShareOneBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("publishes 24 MiB to 17 subscribers")
	}
	g := zmqguard.New(zmqguard.Options{StallTimeout: time.Hour})
	waitConnsClosed(t, g)
	pub, ep := newPub(t, g, "tcp://127.0.0.1:0")
	const stuck = 16
	for range stuck {
		stuckSub(t, pub.Addr())
	}
	// A subscriber that keeps up paces the publisher (zmq4's own PUB
	// queue is unbounded) and must get every message.
	healthy := newSub(t, g, ep, "t")
	waitTopics(t, pub, "", "t")

	// 24 MiB fill every stuck peer's kernel buffers (tcp_wmem's 4 MiB at
	// most) and then its 4 MiB in the guard.
	const msgSize, batch, total = 32 << 10, 32, 24 << 20
	payload := make([]byte, msgSize)
	var maxHeap uint64
	var ms runtime.MemStats
	for sent := int64(0); sent < total/msgSize; {
		for range batch {
			if err := pub.Send(zmq4.NewMsgFrom([]byte("t.x"), payload)); err != nil {
				t.Fatal(err)
			}
			sent++
		}
		// Slow under -race with 17 peers on a loaded machine, hence 60s.
		if !proctest.Poll(60*time.Second, func() bool { return healthy.n.Load() == sent }) {
			t.Fatalf("healthy subscriber has %d of %d messages after 60s; guard stats %+v", healthy.n.Load(), sent, g.Stats())
		}
		runtime.GC()
		runtime.ReadMemStats(&ms)
		maxHeap = max(maxHeap, ms.HeapAlloc)
	}
	t.Logf("max heap in use: %.1f MiB; stats %+v", float64(maxHeap)/(1<<20), g.Stats())
	const bound = 48 << 20
	if maxHeap > bound {
		t.Errorf("heap reached %d MiB with %d stuck subscribers; want < %d MiB (32 MiB for all peers' buffers)", maxHeap>>20, stuck, bound>>20)
	}
	if st := g.Stats(); st.Dropped == 0 || st.Evicted != 0 {
		t.Errorf("stats %+v: want drops for the stuck peers and no eviction", st)
	}
}
