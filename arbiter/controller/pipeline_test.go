package controller_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/arbiter/controller"
	"github.com/poold/poold/events/zmqguard/zmtptest"
	"github.com/poold/poold/watcher/proctest"
)

// decodeReply parses one DEALER reply frame.
func decodeReply(t testing.TB, msg [][]byte) map[string]any {
	t.Helper()
	var r map[string]any
	if len(msg) != 1 || json.Unmarshal(msg[0], &r) != nil {
		t.Fatalf("reply %q: want one frame holding a JSON object", msg)
	}
	return r
}

// sendAll sends one DEALER request per id, without reading.
func sendAll(t testing.TB, p *zmtptest.Peer, reqs ...string) {
	t.Helper()
	for _, r := range reqs {
		if err := p.Send([]byte(r)); err != nil {
			t.Fatal(err)
		}
	}
}

// One DEALER that pipelines thousands of requests before it reads gets
// every reply, each ok and in the order it sent them, as from circusd.
// A per-connection cap of 32 handlers answered some "too many requests in
// flight (32)", and once the sender's queue was full it answered some not
// at all.
func TestPipelinedRequestsAllAnsweredInOrder(t *testing.T) {
	s := serve(t, "tcp://127.0.0.1:0", newEcho().handle, nil)
	p := rawPeer(t, s, "DEALER", 0)
	const n = 5000
	for i := range n {
		sendAll(t, p, fmt.Sprintf(`{"id":"%d","command":"status"}`, i))
	}
	for i := range n {
		r := decodeReply(t, recvTimeout(t, p))
		if r["status"] != "ok" || r["id"] != fmt.Sprint(i) {
			t.Fatalf("reply %d of %d pipelined: %v; want ok with id %d", i+1, n, r, i)
		}
	}
}

// gate holds every "gate" request until n of them are in, so the
// controller must take n at once; others answer at once.
type gate struct {
	n, in   atomic.Int64
	release chan struct{}
}

func (g *gate) handle(ctx context.Context, raw []byte) ([]byte, bool) {
	req, _ := arbiter.DecodeRequest(raw)
	if req.Command == "gate" {
		g.in.Add(1)
		select {
		case <-g.release:
		case <-ctx.Done():
		}
	}
	b, _ := json.Marshal(arbiter.OK(req.ID, map[string]any{"command": req.Command}))
	return b, true
}

// 300 clients, each with one request at a time, are all answered; with a
// global cap of 256 running handlers 44 of them got "too many requests in
// flight (256)".
func TestManyClientsAtOnceAllAnswered(t *testing.T) {
	const clients = 300
	g := &gate{release: make(chan struct{})}
	s := serve(t, ipcEndpoint(t), g.handle, nil)
	errs := make(chan error, clients)
	var wg sync.WaitGroup
	for range clients {
		cl := dial(t, s.ep)
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Not the client's 5 s default: on a loaded machine the 300
			// take longer than that to reach the handler.
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			_, err := cl.Do(ctx, arbiter.Request{Command: "gate"})
			errs <- err
		}()
	}
	var refused error
	proctest.Eventually(t, fmt.Sprintf("all %d requests to reach the handler", clients), func() bool {
		select {
		case refused = <-errs:
			return true
		default:
		}
		return g.in.Load() == clients
	})
	close(g.release)
	wg.Wait()
	close(errs)
	if refused != nil {
		t.Fatalf("a client was answered before the others were in: %v", refused)
	}
	for err := range errs {
		if err != nil {
			t.Errorf("client: %v", err)
		}
	}
}

// A request that waits for its work (a stop with waiting) runs beside the
// requests after it, so they are answered at once; beyond
// MaxInFlightPerPeer such requests wait their turn instead of being
// refused.
func TestWaitingRequestsTakeTurnsNotRefusals(t *testing.T) {
	e := newEcho()
	s := serve(t, "tcp://127.0.0.1:0", e.handle, func(c *controller.Controller) { c.MaxInFlightPerPeer = 2 })
	p := rawPeer(t, s, "DEALER", 0)
	block := func(id string) string {
		return fmt.Sprintf(`{"id":%q,"command":"block","properties":{"waiting":true}}`, id)
	}
	sendAll(t, p, block("b1"), block("b2"), `{"id":"s1","command":"status"}`, block("b3"), `{"id":"s2","command":"status"}`)
	if r := decodeReply(t, recvTimeout(t, p)); r["id"] != "s1" || r["status"] != "ok" {
		t.Fatalf("first reply %v; want s1 ok while b1 and b2 wait", r)
	}
	proctest.Eventually(t, "b1 and b2 to run", func() bool { return e.blocked.Load() == 2 })
	close(e.release)
	got := map[string]any{}
	for range 4 {
		r := decodeReply(t, recvTimeout(t, p))
		got[fmt.Sprint(r["id"])] = r["status"]
	}
	for _, id := range []string{"b1", "b2", "b3", "s2"} {
		if got[id] != "ok" {
			t.Errorf("%s: %v; want ok (replies %v)", id, got[id], got)
		}
	}
	if n := e.blocked.Load(); n != 3 {
		t.Errorf("%d block handlers ran, want 3", n)
	}
}

// A peer whose queue is full while its runner waits behind its own
// waiting requests cannot be helped by waiting: its next request is
// refused, and the refusal is sent. Everything queued is still answered,
// in order.
func TestStuckPeerIsRefusedWithAReply(t *testing.T) {
	e, p := stuckPeer(t)
	sendAll(t, p, `{"id":"s3","command":"status"}`)
	r := decodeReply(t, recvTimeout(t, p))
	if r["id"] != "s3" || r["status"] != "error" || r["errno"] != float64(arbiter.ErrnoFailed) ||
		!strings.Contains(fmt.Sprint(r["reason"]), "read their replies before sending more") {
		t.Fatalf("first reply %v; want s3 refused (errno 5) while b1 runs and b2, s1, s2 wait", r)
	}
	close(e.release)
	var order []string
	for range 4 {
		r := decodeReply(t, recvTimeout(t, p))
		if r["status"] != "ok" {
			t.Errorf("reply %v; want ok", r)
		}
		order = append(order, fmt.Sprint(r["id"]))
	}
	if i1, i2 := slices.Index(order, "s1"), slices.Index(order, "s2"); i1 < 0 || i2 < i1 {
		t.Errorf("replies in order %v; want s1 before s2", order)
	}
}

// stuckPeer serves e with MaxInFlightPerPeer 1 and MaxQueuedPerPeer 2,
// and has a DEALER send b1 (which runs until e is released), b2 (which
// waits for room to run) and s1 and s2 (which fill the queue), so that
// the next request it sends is refused. Once e is released, b1, b2, s1
// and s2 are answered.
func stuckPeer(t testing.TB) (*echo, *zmtptest.Peer) {
	t.Helper()
	e := newEcho()
	s := serve(t, "tcp://127.0.0.1:0", e.handle, func(c *controller.Controller) {
		c.MaxInFlightPerPeer = 1
		c.MaxQueuedPerPeer = 2
	})
	p := rawPeer(t, s, "DEALER", 0)
	block := func(id string) string {
		return fmt.Sprintf(`{"id":%q,"command":"block","properties":{"waiting":true}}`, id)
	}
	sendAll(t, p, block("b1"), block("b2"), `{"id":"s1","command":"status"}`, `{"id":"s2","command":"status"}`)
	return e, p
}
