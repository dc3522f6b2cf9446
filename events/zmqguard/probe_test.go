package zmqguard_test

import (
	"net"
	"testing"

	"github.com/poold/poold/events/zmqguard"
	"github.com/poold/poold/watcher/proctest"
)

// TestProbeIsNoHandshakeError: a kubelet tcpSocket probe (connect, then
// close without a byte) on poold's tcp event or stats endpoint, or a
// second poold checking whether an ipc endpoint is in use, counted as a
// handshake error, and poold logged "subscribers lost events or were
// disconnected" (handshake_errors=12, every loss counter 0) each minute
// of probing. Such a peer is now a probe, which the loss report leaves
// out; a malformed handshake is still an error.
func TestProbeIsNoHandshakeError(t *testing.T) {
	for _, ep := range []string{"tcp://127.0.0.1:0", "ipc://" + t.TempDir() + "/pub.sock"} {
		g := zmqguard.New(zmqguard.Options{})
		waitConnsClosed(t, g)
		pub, _ := newPub(t, g, ep)
		addr := pub.Addr()
		const probes = 3
		for range probes {
			c, err := net.Dial(addr.Network(), addr.String())
			if err != nil {
				t.Fatal(err)
			}
			c.Close()
		}
		proctest.Eventually(t, ep+": the probes counted", func() bool {
			st := g.Stats()
			return st.Probes == probes || st.HandshakeErrors > 0
		})
		if st := g.Stats(); st.HandshakeErrors != 0 || st.Probes != probes {
			t.Errorf("%s: %d probes (connect, close) counted as %d handshake errors and %d probes; want %d probes", ep, probes, st.HandshakeErrors, st.Probes, probes)
		}
	}
}
