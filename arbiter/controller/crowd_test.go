package controller_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/poold/poold/arbiter/controller"
	"github.com/poold/poold/arbiter/controller/ctlclient"
	"github.com/poold/poold/events/zmqguard"
	"github.com/poold/poold/watcher/proctest"
)

// A crowd of connections that never send a ZMTP greeting, from the same
// uid (or address) as poolctl, must not lock poolctl out. With one global
// bound on pending handshakes that refused the newest connection, 256
// silent peers made every poolctl fail at once with "could not read ZMTP
// greeting". The handshake timeout is an hour here, so nothing in the
// crowd expires: the client gets through only because the guard makes
// room, however slow the machine.
func TestSilentCrowdDoesNotLockOutClient(t *testing.T) {
	for _, tc := range []struct {
		transport string
		crowd     int
	}{
		{"ipc", 300}, {"ipc", 1000}, {"tcp", 300}, {"tcp", 1000},
	} {
		t.Run(fmt.Sprintf("%s/%d", tc.transport, tc.crowd), func(t *testing.T) {
			ep, peer := ipcEndpoint(t), fmt.Sprintf("uid:%d", os.Geteuid())
			if tc.transport == "tcp" {
				ep, peer = "tcp://127.0.0.1:0", "ip:127.0.0.1"
			}
			s := serve(t, ep, newEcho().handle, func(c *controller.Controller) {
				c.Guard = zmqguard.New(zmqguard.Options{HandshakeTimeout: time.Hour})
			})
			for range tc.crowd {
				rawPeer(t, s, "", 0) // connects, says nothing
			}
			perPeer := s.Guard.Options().MaxHandshakesPerPeer
			proctest.Eventually(t, "the guard to take in the whole crowd", func() bool {
				st := s.Stats()
				return st.Handshaking+int64(st.HandshakesEvicted) == int64(tc.crowd)
			})
			st := s.Stats()
			if st.Handshaking != int64(perPeer) || st.PendingByPeer[peer] != perPeer || len(st.PendingByPeer) != 1 {
				t.Errorf("stats %+v: want %d pending handshakes, all of %s", st, perPeer, peer)
			}

			start := time.Now()
			cl, err := ctlclient.Dial(s.ep)
			if err != nil {
				t.Fatalf("poolctl locked out by %d silent connections: %v", tc.crowd, err)
			}
			defer cl.Close()
			mustStatus(t, cl, "status")
			t.Logf("client answered in %s next to %d silent connections; stats %+v",
				time.Since(start).Round(time.Microsecond), tc.crowd, s.Stats())
			// The client's connection took the place of the crowd's oldest.
			if st := s.Stats(); st.HandshakesEvicted != uint64(tc.crowd-perPeer+1) || st.PendingByPeer[peer] != perPeer-1 {
				t.Errorf("stats %+v: want %d handshakes evicted and the crowd still holding %d",
					st, tc.crowd-perPeer+1, perPeer-1)
			}
		})
	}
}
