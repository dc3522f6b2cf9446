package zmqpub

import (
	"strings"
	"testing"

	"github.com/poold/poold/events"
	"github.com/poold/poold/events/zmqguard"
	"github.com/poold/poold/events/zmqguard/zmtptest"
	"github.com/poold/poold/watcher/proctest"
)

// A subscriber closed to make room for another connection of its peer
// is logged, once a minute per peer: on tcp anyone who reaches the port
// can crowd an address's subscribers out, and this was silent.
func TestCrowdedOutSubscriberIsLogged(t *testing.T) {
	checkLeaks(t)
	out := &syncBuffer{}
	p := New(tcpEP(), events.NewBus(nil), testLogger(t, out), WithGuardOptions(zmqguard.Options{MaxConnsPerPeer: 2}))
	startPublisher(t, p)
	_, addr := addrOf(p.Endpoint())
	for range 5 {
		c, err := zmtptest.Dial("tcp", addr, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if err := c.Handshake("SUB", ""); err != nil {
			t.Fatal(err)
		}
	}
	proctest.Eventually(t, "three subscribers closed", func() bool { return p.Stats().Guard.ConnsEvicted == 3 })
	if n := strings.Count(out.String(), "subscriber closed to make room"); n != 1 {
		t.Errorf("%d log lines for 3 subscribers of one peer closed, want 1 a minute:\n%s", n, out)
	}
	if !strings.Contains(out.String(), "peer=ip:127.0.0.1") {
		t.Errorf("the line does not name the peer:\n%s", out)
	}
}
