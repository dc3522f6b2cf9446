package main

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTimeoutBoundsASilentEndpoint: `poolctl --timeout 1s status` at an
// endpoint where something accepts connections and says nothing (not
// poold, or a poold too busy to answer) took 4.5-5 s to give up: the
// handshake had a fixed 2 s bound, the guard's close at that bound was
// taken for a handshake cut short and tried again, and the probe of what
// answers there waited 1 s more. Every part now ends by the timeout.
func TestTimeoutBoundsASilentEndpoint(t *testing.T) {
	t.Parallel()
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			addr := "127.0.0.1:0"
			if network == "unix" {
				addr = filepath.Join(t.TempDir(), "silent.sock")
			}
			l, err := net.Listen(network, addr) // the kernel accepts; nobody speaks
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
			ep := "tcp://" + l.Addr().String()
			if network == "unix" {
				ep = "ipc://" + addr
			}
			r := poolctl(t, "--timeout", "300ms", "--endpoint", ep, "status")
			want := "poolctl: Cannot reach poold at " + ep + " (no ZeroMQ handshake within 300ms: "
			if r.code != exitUnreachable || !strings.HasPrefix(r.stderr, want) || !strings.Contains(r.stderr, "check --endpoint") {
				t.Errorf("want exit 3 and %q... saying what to do, got %v", want, r)
			}
			// Generous: it takes about 0.4 s; it took 4.5 s and more.
			if r.took > 2*time.Second {
				t.Errorf("--timeout 300ms took %v to give up", r.took)
			}
		})
	}
}

// TestSilentBudget: the dial and the probe after its failed handshake
// share the timeout. The probe came on top of it: the default 5 s gave up
// on a silent endpoint after 6.0 s.
func TestSilentBudget(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ timeout, dial, probe time.Duration }{
		{100 * time.Millisecond, 80 * time.Millisecond, 20 * time.Millisecond},
		{time.Second, 800 * time.Millisecond, 200 * time.Millisecond},
		{5 * time.Second, 4 * time.Second, 2 * probeTimeout},
		{time.Minute, time.Minute - 2*probeTimeout, 2 * probeTimeout},
	} {
		dial, probe := silentBudget(tc.timeout)
		if dial != tc.dial || probe != tc.probe || dial+probe > tc.timeout {
			t.Errorf("silentBudget(%v) = %v, %v; want %v, %v, within the timeout", tc.timeout, dial, probe, tc.dial, tc.probe)
		}
	}
}
