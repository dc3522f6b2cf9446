package zmqpub

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"go.uber.org/goleak"

	"github.com/poold/poold/events"
	"github.com/poold/poold/events/zmqguard/zmtptest"
)

// zmq4's PUB sender goroutine is never stopped by zmq4's Close (see the
// package doc); it is the only goroutine tests tolerate.
var leakOpts = []goleak.Option{goleak.IgnoreAnyFunction("github.com/go-zeromq/zmq4.(*pubMWriter).run")}

func checkLeaks(t *testing.T) {
	t.Helper()
	t.Cleanup(func() { goleak.VerifyNone(t, leakOpts...) })
}

// hang is the generous bound that catches a hang; nothing waits for it
// on a healthy run.
const hang = 20 * time.Second

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testLogger(t testing.TB, out *syncBuffer) hclog.Logger {
	t.Helper()
	opts := &hclog.LoggerOptions{Name: "zmqpub", Level: hclog.Debug}
	if out != nil {
		opts.Output = out
	} else {
		opts.Output = tWriter{t}
	}
	return hclog.New(opts)
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// tcpEP and ipcEP are fresh endpoints on loopback.
func tcpEP() string { return "tcp://127.0.0.1:0" }

func ipcEP(t testing.TB) string { return "ipc://" + filepath.Join(t.TempDir(), "pub.sock") }

// startPublisher runs p until the test ends; Run must then return nil.
func startPublisher(t testing.TB, p *Publisher) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- p.Run(ctx) }()
	select {
	case <-p.Ready():
	case err := <-errc:
		cancel()
		t.Fatalf("Run: %v", err)
	case <-time.After(hang):
		cancel()
		t.Fatal("publisher not ready")
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("Run returned %v on cancel, want nil", err)
			}
		case <-time.After(hang):
			t.Error("Run did not return after cancel")
		}
	})
}

func dial(t testing.TB, ep string, prefixes ...string) *Subscriber {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	s, err := Dial(ctx, ep, prefixes...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// join waits out the slow joiner: it publishes probes with the given
// topic until s receives one. That proves only the subscription the probe
// falls under: zmq4 sends a socket's subscriptions one message each (in
// sorted order) and the publisher applies each as it reads it, so a
// subscriber with several prefixes joins once per prefix, or uses a probe
// under its only one.
func join(t testing.TB, bus *events.Bus, s *Subscriber, probe string) {
	t.Helper()
	deadline := time.Now().Add(hang)
	for time.Now().Before(deadline) {
		bus.PublishTopic(probe, "", "probe", nil)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		topic, _, err := s.RecvRaw(ctx)
		cancel()
		if err == nil && topic == probe {
			return
		}
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("join: %v", err)
		}
	}
	t.Fatal("subscriber never received a probe")
}

// recvWithin receives the next message, waiting at most d for it: a
// bound on progress, which a starved but moving stream meets.
func recvWithin(s *Subscriber, d time.Duration) (string, []byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return s.RecvRaw(ctx)
}

// recvNonProbe receives, skipping the probe topics, until a message
// arrives.
func recvNonProbe(t testing.TB, s *Subscriber, probes ...string) (string, map[string]any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	for {
		topic, payload, err := s.Recv(ctx)
		if err != nil {
			t.Fatalf("recv: %v", err)
		}
		if !slices.Contains(probes, topic) {
			return topic, payload
		}
	}
}

// rawStuckPeer is a hand-driven SUB (zmtptest) subscribed to prefix; it
// has proved it joined by receiving one probe, and never reads again.
func rawStuckPeer(t testing.TB, bus *events.Bus, network, addr, prefix, probe string) *zmtptest.Peer {
	t.Helper()
	peer, _ := rawStuckPeerSeq(t, bus, network, addr, prefix, probe)
	return peer
}

// rawStuckPeerSeq is rawStuckPeer that also returns the probe's seq.
func rawStuckPeerSeq(t testing.TB, bus *events.Bus, network, addr, prefix, probe string) (*zmtptest.Peer, uint64) {
	t.Helper()
	peer, err := zmtptest.Dial(network, addr, 4096)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Close() })
	if err := peer.Handshake("SUB", ""); err != nil {
		t.Fatal(err)
	}
	if err := peer.Send(append([]byte{1}, prefix...)); err != nil {
		t.Fatal(err)
	}
	type probed struct {
		seq uint64
		err error
	}
	got := make(chan probed, 1)
	go func() {
		for {
			msg, err := peer.Recv()
			if err != nil {
				got <- probed{err: err}
				return
			}
			if len(msg) == 2 && string(msg[0]) == probe {
				got <- probed{seq: seqOf(msg)}
				return
			}
		}
	}()
	deadline := time.NewTimer(hang)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		bus.PublishTopic(probe, "", "probe", nil)
		select {
		case r := <-got:
			if r.err != nil {
				t.Fatalf("raw peer: %v", r.err)
			}
			return peer, r.seq
		case <-tick.C:
		case <-deadline.C:
			peer.Close()
			<-got
			t.Fatal("raw peer never received a probe")
		}
	}
}

// addrOf turns a bound endpoint into a network and address for raw dials.
func addrOf(ep string) (network, addr string) {
	scheme, a, _ := strings.Cut(ep, "://")
	if scheme == "ipc" {
		return "unix", a
	}
	return "tcp", a
}
