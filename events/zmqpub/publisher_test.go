package zmqpub

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/poold/poold/events"
)

var fixedNow = time.Unix(1700000000, 500000000)

func fixedClock() time.Time { return fixedNow }

// Events published on a bus arrive with two frames, the right topic and
// the payload's fields, time and seq; checked both by a raw ZMTP peer
// (exact frames) and by Subscriber (decoded).
func TestEventsArrive(t *testing.T) {
	for _, tc := range []struct{ name, ep string }{
		{"tcp", tcpEP()},
		{"ipc", ipcEP(t)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkLeaks(t)
			bus := events.NewBus(fixedClock)
			p := New(tc.ep, bus, testLogger(t, nil))
			startPublisher(t, p)
			if tc.name == "tcp" && (!strings.HasPrefix(p.Endpoint(), "tcp://127.0.0.1:") || strings.HasSuffix(p.Endpoint(), ":0")) {
				t.Fatalf("Endpoint() = %q, want the bound port", p.Endpoint())
			}
			if tc.name == "ipc" && p.Endpoint() != tc.ep {
				t.Fatalf("Endpoint() = %q, want %q", p.Endpoint(), tc.ep)
			}

			const probe = "arbiter.probe"
			s := dial(t, p.Endpoint())
			join(t, bus, s, probe)
			network, addr := addrOf(p.Endpoint())
			raw := rawStuckPeer(t, bus, network, addr, "", probe)

			sent := []events.Event{
				bus.Publish("Web App", "spawn", map[string]any{"process_pid": 1234, "process_id": 1}),
				bus.Publish("web app", "reap", map[string]any{"process_pid": 1234, "process_id": 1, "exit_code": -9}),
				bus.Publish("", "stop", nil),
			}
			wantTopics := []string{"watcher.web_app.spawn", "watcher.web_app.reap", "arbiter.stop"}
			wantFields := []map[string]any{
				{"process_pid": 1234.0, "process_id": 1.0},
				{"process_pid": 1234.0, "process_id": 1.0, "exit_code": -9.0},
				{},
			}
			for i, ev := range sent {
				topic, payload := recvNonProbe(t, s, probe)
				if topic != wantTopics[i] {
					t.Fatalf("event %d: topic %q, want %q", i, topic, wantTopics[i])
				}
				want := map[string]any{"time": 1700000000.5, "seq": float64(ev.Seq)}
				for k, v := range wantFields[i] {
					want[k] = v
				}
				if d := cmp.Diff(want, payload); d != "" {
					t.Errorf("event %d payload (-want +got):\n%s", i, d)
				}
				if i > 0 && ev.Seq != sent[i-1].Seq+1 {
					t.Errorf("seq %d after %d, want consecutive", ev.Seq, sent[i-1].Seq)
				}
			}

			// The raw peer sees the exact wire frames.
			_ = raw.Conn.SetReadDeadline(time.Now().Add(hang))
			for i := 0; i < len(sent); {
				frames, err := raw.Recv()
				if err != nil {
					t.Fatalf("raw recv: %v", err)
				}
				if len(frames) != 2 {
					t.Fatalf("raw: %d frames, want 2", len(frames))
				}
				if string(frames[0]) == probe {
					continue
				}
				if string(frames[0]) != sent[i].Topic || string(frames[1]) != string(sent[i].MarshalPayload()) {
					t.Fatalf("raw: frames %q, want [%q %q]", frames, sent[i].Topic, sent[i].MarshalPayload())
				}
				i++
			}
		})
	}
}

// Subscriptions filter by topic prefix, and "" (no prefix) takes all.
func TestPrefixFilter(t *testing.T) {
	checkLeaks(t)
	bus := events.NewBus(nil)
	p := New(tcpEP(), bus, testLogger(t, nil))
	startPublisher(t, p)
	const probe, webProbe = "arbiter.probe", "watcher.web.probe"
	some := dial(t, p.Endpoint(), "watcher.web.", "arbiter.")
	all := dial(t, p.Endpoint())
	// A SUB sends its subscriptions one by one: a probe proves only the
	// one it matches has reached the publisher, so some joins on each.
	join(t, bus, some, probe)
	join(t, bus, some, webProbe)
	join(t, bus, all, probe)

	bus.Publish("web", "spawn", nil)
	bus.Publish("webx", "spawn", nil)
	bus.Publish("db", "spawn", nil)
	bus.PublishTopic("stat.web", "web", "stat", nil)
	bus.Publish("", "reload", nil)
	bus.Publish("", "end", nil)

	for _, tc := range []struct {
		name string
		s    *Subscriber
		want []string
	}{
		{"prefixes", some, []string{"watcher.web.spawn", "arbiter.reload", "arbiter.end"}},
		{"all", all, []string{"watcher.web.spawn", "watcher.webx.spawn", "watcher.db.spawn", "stat.web", "arbiter.reload", "arbiter.end"}},
	} {
		var got []string
		for len(got) == 0 || got[len(got)-1] != "arbiter.end" {
			topic, _ := recvNonProbe(t, tc.s, probe, webProbe)
			got = append(got, topic)
		}
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("%s: topics (-want +got):\n%s", tc.name, d)
		}
	}
}

// Run returns nil on cancel, unsubscribes from the bus, and refuses a
// second call.
func TestRunStopsAndUnsubscribes(t *testing.T) {
	checkLeaks(t)
	bus := events.NewBus(nil)
	p := New(tcpEP(), bus, testLogger(t, nil))
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- p.Run(ctx) }()
	select {
	case <-p.Ready():
	case err := <-errc:
		t.Fatal(err)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	sub := p.sub.Load()
	for range sub.C() {
	}
	// Closed: a publish no longer reaches it, nor counts as its drop.
	for range events.DefaultQueue + 1 {
		bus.Publish("", "x", nil)
	}
	if p.Dropped() != 0 {
		t.Errorf("Dropped = %d after unsubscribe, want 0", p.Dropped())
	}
	if err := p.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("second Run = %v, want an error", err)
	}
}

// Events published just before the stop are still delivered, then the
// subscriber learns the connection is gone.
func TestShutdownFlushesLastEvents(t *testing.T) {
	checkLeaks(t)
	bus := events.NewBus(nil)
	p := New(ipcEP(t), bus, testLogger(t, nil))
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- p.Run(ctx) }()
	<-p.Ready()
	const probe = "arbiter.probe"
	s := dial(t, p.Endpoint())
	join(t, bus, s, probe)

	bus.Publish("web", "stop", nil)
	bus.Publish("", "stop", nil)
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"watcher.web.stop", "arbiter.stop"} {
		if topic, _ := recvNonProbe(t, s, probe); topic != want {
			t.Fatalf("topic %q, want %q", topic, want)
		}
	}
	rctx, rcancel := context.WithTimeout(context.Background(), hang)
	defer rcancel()
	_, _, err := s.RecvRaw(rctx)
	if err == nil || errors.Is(err, ErrClosed) || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("after the publisher stopped: %v, want connection lost", err)
	}
	t.Logf("after stop: %v", err)
	s.Close()
	if _, _, err := s.RecvRaw(rctx); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v, want ErrClosed", err)
	}
}

func TestBindErrors(t *testing.T) {
	checkLeaks(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()

	live := ipcEP(t)
	startPublisher(t, New(live, events.NewBus(nil), testLogger(t, nil)))

	for _, tc := range []struct {
		name, ep string
		errno    error
		want     []string
	}{
		{"tcp in use", "tcp://" + busy.Addr().String(), syscall.EADDRINUSE,
			[]string{"stats_endpoint", busy.Addr().String(), "in use", "change stats_endpoint"}},
		{"ipc live", live, nil,
			[]string{"stats_endpoint", live, "another poold"}},
		{"ipc no dir", "ipc://" + filepath.Join(t.TempDir(), "missing", "pub.sock"), syscall.ENOENT,
			[]string{"stats_endpoint", "missing/pub.sock", "directory does not exist"}},
		{"bad scheme", "udp://127.0.0.1:1", nil,
			[]string{"stats_endpoint", "udp://127.0.0.1:1", "use tcp:// or ipc://"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := New(tc.ep, events.NewBus(nil), testLogger(t, nil), WithConfigKey("stats_endpoint"))
			ctx, cancel := context.WithTimeout(context.Background(), hang)
			defer cancel()
			err := p.Run(ctx)
			if err == nil {
				t.Fatal("Run succeeded, want a bind error")
			}
			t.Log(err)
			for _, internal := range []string{"gipc", "gtcp", "zmq4:", "zmqguard:"} {
				if strings.Contains(err.Error(), internal) {
					t.Errorf("error %q shows the transport's internal %q", err, internal)
				}
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if tc.errno != nil && !errors.Is(err, tc.errno) {
				t.Errorf("error %v is not %v", err, tc.errno)
			}
			select {
			case <-p.Ready():
				t.Error("Ready closed after a failed bind")
			default:
			}
		})
	}
}

func TestDialErrors(t *testing.T) {
	checkLeaks(t)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()

	stale := filepath.Join(t.TempDir(), "stale.sock")
	ul, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ul.SetUnlinkOnClose(false)
	ul.Close()

	for _, tc := range []struct {
		name, ep string
		is       error
		want     string
	}{
		{"ipc missing", "ipc://" + filepath.Join(t.TempDir(), "nope.sock"), fs.ErrNotExist, "no such socket"},
		{"ipc stale", "ipc://" + stale, syscall.ECONNREFUSED, "nothing is listening"},
		{"tcp refused", "tcp://" + closedAddr, syscall.ECONNREFUSED, "nothing is listening"},
		{"bad scheme", "inproc://x", nil, "want tcp://host:port or ipc:///path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), hang)
			defer cancel()
			s, err := Dial(ctx, tc.ep)
			if err == nil {
				s.Close()
				t.Fatal("Dial succeeded")
			}
			t.Log(err)
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.ep) {
				t.Errorf("error %q lacks %q or the endpoint", err, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
			if tc.is != nil && !strings.Contains(err.Error(), "is poold running") {
				t.Errorf("error %q does not say what to check", err)
			}
		})
	}
}
