package controller_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"go.uber.org/goleak"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/arbiter/controller"
	"github.com/poold/poold/arbiter/controller/ctlclient"
	"github.com/poold/poold/events/zmqguard/zmtptest"
	"github.com/poold/poold/watcher/proctest"
	"github.com/poold/poold/watcher/workertest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// echo answers every command with its name and properties; "block" waits
// for release (or ctx), "silent" never answers; casts get no reply.
type echo struct {
	release chan struct{}
	blocked atomic.Int64
	casts   chan string
}

func newEcho() *echo {
	return &echo{release: make(chan struct{}), casts: make(chan string, 16)}
}

func (e *echo) handle(ctx context.Context, raw []byte) ([]byte, bool) {
	req, err := arbiter.DecodeRequest(raw)
	if err != nil {
		b, _ := json.Marshal(arbiter.Fail(req.ID, err))
		return b, true
	}
	if req.MsgType == "cast" {
		e.casts <- req.Command
		return nil, false
	}
	switch req.Command {
	case "block":
		e.blocked.Add(1)
		select {
		case <-e.release:
		case <-ctx.Done():
			b, _ := json.Marshal(arbiter.Fail(req.ID, &arbiter.CommandError{Errno: arbiter.ErrnoFailed, Reason: "poold is shutting down"}))
			return b, true
		}
	case "silent":
		return nil, false
	}
	b, _ := json.Marshal(arbiter.OK(req.ID, map[string]any{"command": req.Command, "properties": req.Properties}))
	return b, true
}

type served struct {
	*controller.Controller
	ep string
}

// serve runs a controller until the test ends and checks Run returns nil.
func serve(t testing.TB, ep string, h controller.Handler, tune func(*controller.Controller)) served {
	t.Helper()
	return serveLogging(t, ep, h, tune, os.Stderr)
}

// serveLogging is serve with the controller's log (warnings) going to log.
func serveLogging(t testing.TB, ep string, h controller.Handler, tune func(*controller.Controller), log io.Writer) served {
	t.Helper()
	return serveAt(t, ep, h, tune, log, hclog.Warn)
}

// serveAt is serveLogging with lines of level and above going to log.
func serveAt(t testing.TB, ep string, h controller.Handler, tune func(*controller.Controller), log io.Writer, level hclog.Level) served {
	t.Helper()
	c := controller.New(ep, h, hclog.New(&hclog.LoggerOptions{Level: level, Output: log}))
	if tune != nil {
		tune(c)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- c.Run(ctx) }()
	select {
	case <-c.Ready():
	case err := <-errc:
		cancel()
		t.Fatalf("controller.Run(%s): %v", ep, err)
	case <-time.After(10 * time.Second):
		t.Fatal("controller not ready after 10s")
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("Run returned %v after cancel, want nil", err)
			}
		case <-time.After(time.Minute):
			t.Error("Run did not return within a minute of cancel (a hang)")
		}
	})
	return served{c, c.Endpoint()}
}

func dial(t testing.TB, ep string) *ctlclient.Client {
	t.Helper()
	cl, err := ctlclient.Dial(ep)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

func ipcEndpoint(t testing.TB) string {
	return "ipc://" + filepath.Join(t.TempDir(), "ctl.sock")
}

func mustStatus(t testing.TB, cl *ctlclient.Client, cmd string) arbiter.Reply {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rep, err := cl.Do(ctx, arbiter.Request{Command: cmd, Properties: map[string]any{"name": "web"}})
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	if rep["status"] != "ok" || rep["command"] != cmd {
		t.Fatalf("%s: reply %v", cmd, rep)
	}
	return rep
}

// rawPeer connects by hand to the controller's endpoint.
func rawPeer(t testing.TB, s served, sockType string, readBuffer int) *zmtptest.Peer {
	t.Helper()
	network, addr := "tcp", strings.TrimPrefix(s.ep, "tcp://")
	if path, ok := strings.CutPrefix(s.ep, "ipc://"); ok {
		network, addr = "unix", path
	}
	p, err := zmtptest.Dial(network, addr, readBuffer)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	if sockType != "" {
		if err := p.Handshake(sockType, ""); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func recvTimeout(t testing.TB, p *zmtptest.Peer) [][]byte {
	t.Helper()
	_ = p.Conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer p.Conn.SetReadDeadline(time.Time{})
	msg, err := p.Recv()
	if err != nil {
		t.Fatalf("raw peer receive: %v", err)
	}
	return msg
}

func TestClientRoundTrip(t *testing.T) {
	for _, ep := range []string{"tcp://127.0.0.1:0", ""} {
		if ep == "" {
			ep = ipcEndpoint(t)
		}
		t.Run(strings.SplitN(ep, ":", 2)[0], func(t *testing.T) {
			s := serve(t, ep, newEcho().handle, nil)
			cl := dial(t, s.ep)
			rep := mustStatus(t, cl, "status")
			if rep["id"] == "" {
				t.Errorf("reply has no id: %v", rep)
			}
			// Concurrent calls are matched by id.
			var wg sync.WaitGroup
			for i := range 32 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					raw := fmt.Sprintf(`{"id": %d, "command": "list", "properties": {"n": %d}}`, i, i)
					b, err := cl.Call(context.Background(), []byte(raw))
					if err != nil {
						t.Error(err)
						return
					}
					var r map[string]any
					_ = json.Unmarshal(b, &r)
					if r["id"] != fmt.Sprint(i) || r["properties"].(map[string]any)["n"] != float64(i) {
						t.Errorf("call %d got %s", i, b)
					}
				}()
			}
			wg.Wait()
			// An error reply comes back as a CommandError too.
			_, err := cl.Call(context.Background(), []byte(`[1,2]`))
			if err != nil {
				t.Fatalf("non-object request: %v", err)
			}
		})
	}
}

// DEALER requests arrive as [identity, json] and get [identity, reply];
// REQ requests as [identity, "", json] and get [identity, "", reply].
func TestDealerAndReqFraming(t *testing.T) {
	s := serve(t, "tcp://127.0.0.1:0", newEcho().handle, nil)

	dealer := rawPeer(t, s, "DEALER", 0)
	if err := dealer.Send([]byte(`{"id":"d1","command":"status"}`)); err != nil {
		t.Fatal(err)
	}
	msg := recvTimeout(t, dealer)
	if len(msg) != 1 || !strings.Contains(string(msg[0]), `"id":"d1"`) {
		t.Fatalf("DEALER got %q, want one frame with id d1", msg)
	}

	req := rawPeer(t, s, "REQ", 0)
	if err := req.Send(nil, []byte(`{"id":"r1","command":"status"}`)); err != nil {
		t.Fatal(err)
	}
	msg = recvTimeout(t, req)
	if len(msg) != 2 || len(msg[0]) != 0 || !strings.Contains(string(msg[1]), `"id":"r1"`) {
		t.Fatalf("REQ got %q, want [\"\", reply with id r1]", msg)
	}
}

// A TCP peer that connects and says nothing blocks zmq4's accept loop; with
// the guard a new client is answered at once.
func TestSilentPeerDoesNotBlockClients(t *testing.T) {
	s := serve(t, "tcp://127.0.0.1:0", newEcho().handle, nil)
	rawPeer(t, s, "", 0) // connects, says nothing
	rawPeer(t, s, "", 0)
	start := time.Now()
	cl := dial(t, s.ep)
	mustStatus(t, cl, "status")
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("client next to silent peers answered after %s", d)
	}
}

// A frame header claiming 2^40 bytes panics zmq4 (makeslice); with the
// guard that peer is closed and others are answered.
func TestHugeFrameHeaderClosesPeer(t *testing.T) {
	log := &workertest.Buffer{}
	s := serveLogging(t, "tcp://127.0.0.1:0", newEcho().handle, nil, log)
	p := rawPeer(t, s, "DEALER", 0)
	if _, err := p.Conn.Write([]byte{0x02, 0, 0, 1, 0, 0, 0, 0, 0}); err != nil {
		t.Fatal(err)
	}
	if !p.WaitClosed(10 * time.Second) {
		t.Fatal("peer announcing a 2^40-byte frame still connected")
	}
	if st := s.Stats(); st.Oversized != 1 {
		t.Errorf("guard stats %+v, want 1 oversized", st)
	}
	// poold says so: the closed peer cannot be told.
	if l := log.String(); !strings.Contains(l, "a request over the limit") || !strings.Contains(l, "peer="+p.Conn.LocalAddr().String()) {
		t.Errorf("log %q: want a warning naming the peer", l)
	}
	mustStatus(t, dial(t, s.ep), "status")
}

// The client refuses a request poold would not read, saying so, rather
// than letting poold close the connection without an answer.
func TestClientRefusesOversizedRequest(t *testing.T) {
	s := serve(t, "tcp://127.0.0.1:0", newEcho().handle, nil)
	cl := dial(t, s.ep)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	big := strings.Repeat("x", controller.MaxRequest)
	_, err := cl.Do(ctx, arbiter.Request{Command: "add", Properties: map[string]any{"name": "w", "cmd": "sleep", "args": []string{big}}})
	if err == nil || !strings.Contains(err.Error(), "over the 1048576 poold reads") {
		t.Fatalf("oversized request: %v, want refused by the client", err)
	}
	mustStatus(t, cl, "status")
}

// A peer that floods requests and never reads its replies must not starve
// other clients (zmq4's ROUTER send blocks on it).
func TestNonReadingPeerDoesNotStarveOthers(t *testing.T) {
	s := serve(t, "tcp://127.0.0.1:0", newEcho().handle, nil)
	flood := rawPeer(t, s, "DEALER", 64<<10)
	stop := make(chan struct{})
	var sent atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		pad := strings.Repeat("x", 4096)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			req := fmt.Sprintf(`{"id":"f%d","command":"status","properties":{"pad":%q}}`, i, pad)
			if flood.Send([]byte(req)) != nil {
				return
			}
			sent.Add(int64(len(req)))
		}
	}()
	defer func() {
		close(stop)
		flood.Close()
		wg.Wait()
	}()

	// Flood until the guard has had to drop or evict replies for the peer
	// that never reads (the loopback buffers are full by then); the bound
	// only catches a hang, however slow the machine.
	if !proctest.Poll(2*time.Minute, func() bool { st := s.Stats(); return st.Dropped+st.Evicted > 0 }) {
		t.Fatalf("guard stats %+v after the flooding peer sent %d bytes: want replies to it dropped", s.Stats(), sent.Load())
	}
	cl := dial(t, s.ep)
	for range 20 {
		mustStatus(t, cl, "status")
	}
	t.Logf("guard stats: %+v", s.Stats())
}

func TestCastGetsNoReply(t *testing.T) {
	e := newEcho()
	s := serve(t, ipcEndpoint(t), e.handle, nil)
	cl := dial(t, s.ep)
	rep, err := cl.Do(context.Background(), arbiter.Request{Command: "incr", MsgType: "cast"})
	if rep != nil || err != nil {
		t.Fatalf("cast: %v, %v; want nil, nil", rep, err)
	}
	select {
	case cmd := <-e.casts:
		if cmd != "incr" {
			t.Fatalf("handler saw %q", cmd)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("cast never reached the handler")
	}
	mustStatus(t, cl, "status")
}

// On shutdown, handlers see ctx cancelled and their replies still go out.
func TestShutdownSendsPendingReplies(t *testing.T) {
	e := newEcho()
	c := controller.New(ipcEndpoint(t), e.handle, hclog.NewNullLogger())
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- c.Run(ctx) }()
	<-c.Ready()
	cl := dial(t, c.Endpoint())
	got := make(chan error, 1)
	go func() {
		_, err := cl.Do(context.Background(), arbiter.Request{Command: "block", Properties: map[string]any{"waiting": true}})
		got <- err
	}()
	proctest.Eventually(t, "the handler to start", func() bool { return e.blocked.Load() >= 1 })
	cancel()
	select {
	case err := <-got:
		var ce *arbiter.CommandError
		if !errors.As(err, &ce) || ce.Reason != "poold is shutting down" {
			t.Fatalf("waiting call got %v, want the handler's shutdown reply", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no reply to the waiting call")
	}
	if err := <-errc; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func TestClientErrors(t *testing.T) {
	dir := t.TempDir()

	_, err := ctlclient.Dial("ipc://" + filepath.Join(dir, "missing.sock"))
	if !errors.Is(err, ctlclient.ErrUnreachable) || !strings.Contains(err.Error(), "no such socket: is poold running? set --endpoint") {
		t.Errorf("missing socket: %v", err)
	}

	stale := filepath.Join(dir, "stale.sock")
	l, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	_, err = ctlclient.Dial("ipc://" + stale)
	if !errors.Is(err, ctlclient.ErrUnreachable) || !strings.Contains(err.Error(), "connection refused: stale socket file") {
		t.Errorf("stale socket: %v", err)
	}

	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := tl.Addr().String()
	tl.Close()
	start := time.Now()
	_, err = ctlclient.Dial("tcp://" + addr)
	if !errors.Is(err, ctlclient.ErrUnreachable) || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("refused tcp: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Dial to a closed port took %s", d)
	}

	_, err = ctlclient.Dial("inproc://x")
	if err == nil || errors.Is(err, ctlclient.ErrUnreachable) {
		t.Errorf("inproc endpoint: %v, want a usage error", err)
	}

	// Sent, but no reply: ErrTimeout, distinct from unreachable.
	s := serve(t, ipcEndpoint(t), newEcho().handle, nil)
	cl := dial(t, s.ep)
	cl.Timeout = 200 * time.Millisecond
	_, err = cl.Do(context.Background(), arbiter.Request{Command: "silent"})
	if !errors.Is(err, ctlclient.ErrTimeout) || errors.Is(err, ctlclient.ErrUnreachable) || !strings.Contains(err.Error(), "after 200ms") {
		t.Errorf("silent handler: %v", err)
	}
	mustStatus(t, cl, "status") // a late or missing reply does not confuse the next call
}

// DialContext waits for a poold that is still starting.
func TestDialContextWaitsForServer(t *testing.T) {
	ep := ipcEndpoint(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	type result struct {
		cl  *ctlclient.Client
		err error
	}
	res := make(chan result, 1)
	go func() {
		cl, err := ctlclient.DialContext(ctx, ep)
		res <- result{cl, err}
	}()
	serve(t, ep, newEcho().handle, nil)
	r := <-res
	if r.err != nil {
		t.Fatal(r.err)
	}
	defer r.cl.Close()
	mustStatus(t, r.cl, "status")
}

func TestConnectionLostIsUnreachable(t *testing.T) {
	ep := ipcEndpoint(t)
	c := controller.New(ep, newEcho().handle, hclog.NewNullLogger())
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- c.Run(ctx) }()
	<-c.Ready()
	cl := dial(t, ep)
	mustStatus(t, cl, "status")
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	var err error
	if !proctest.Poll(10*time.Second, func() bool {
		_, err = cl.Do(context.Background(), arbiter.Request{Command: "status"})
		return errors.Is(err, ctlclient.ErrUnreachable)
	}) {
		t.Fatalf("after poold stopped: %v, want ErrUnreachable", err)
	}
}

func TestEndpointChecks(t *testing.T) {
	c := controller.New("tcp://0.0.0.0:0", newEcho().handle, nil)
	if err := c.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "not a loopback address") {
		t.Errorf("non-loopback tcp: %v", err)
	}
	c = controller.New("tcp://[::1]:0", newEcho().handle, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Run(ctx); err != nil && !strings.Contains(err.Error(), "assign requested address") {
		t.Errorf("::1: %v", err)
	}

	// ipc: a stale file is replaced, a live one refused.
	dir := t.TempDir()
	path := filepath.Join(dir, "ctl.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	s := serve(t, "ipc://"+path, newEcho().handle, nil)
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket file: %v, %v; want mode 0600", fi, err)
	}
	mustStatus(t, dial(t, s.ep), "status")
	c = controller.New("ipc://"+path, newEcho().handle, nil)
	if err := c.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "arbiter.endpoint: bind ipc://"+path+": another poold is already listening there (stop it or change arbiter.endpoint)") || !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("second controller on a live socket: %v", err)
	}
	mustStatus(t, dial(t, s.ep), "status")

	// tcp in use: the key, the address, the system's reason and what to
	// do; not the guard's internal gtcp scheme.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	c = controller.New("tcp://"+busy.Addr().String(), newEcho().handle, nil)
	err = c.Run(context.Background())
	if err == nil || !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("controller on a busy port: %v, want EADDRINUSE", err)
	}
	for _, want := range []string{"arbiter.endpoint", busy.Addr().String(), "address already in use", "change arbiter.endpoint"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "gtcp") {
		t.Errorf("error %q shows the guard's internal scheme", err)
	}
}

// libzmq interop: pyzmq DEALER and REQ clients get the right replies.
func TestPythonClients(t *testing.T) {
	const py = "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import zmq").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s with pyzmq (Debian python3-zmq) is required in CI: %v", py, err)
		}
		t.Skipf("%s has no zmq module (install python3-zmq): %v", py, err)
	}
	script := `
import json, sys, zmq
ep = sys.argv[1]
ctx = zmq.Context()
out = {}
d = ctx.socket(zmq.DEALER)
d.setsockopt(zmq.LINGER, 0)
d.setsockopt(zmq.RCVTIMEO, 10000)
d.connect(ep)
d.send(json.dumps({"id": "py-dealer", "command": "list", "properties": {}}).encode())
out["dealer"] = [f.decode() for f in d.recv_multipart()]
r = ctx.socket(zmq.REQ)
r.setsockopt(zmq.LINGER, 0)
r.setsockopt(zmq.RCVTIMEO, 10000)
r.connect(ep)
r.send(json.dumps({"id": "py-req", "command": "status", "properties": {"name": "web"}}).encode())
out["req"] = [f.decode() for f in r.recv_multipart()]
d.close(); r.close(); ctx.term()
print(json.dumps(out))
`
	for _, ep := range []string{"tcp://127.0.0.1:0", ipcEndpoint(t)} {
		s := serve(t, ep, newEcho().handle, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		out, err := exec.CommandContext(ctx, py, "-c", script, s.ep).CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("%s: python client: %v\n%s", ep, err, out)
		}
		var got map[string][]string
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("python output %q: %v", out, err)
		}
		for kind, want := range map[string]string{"dealer": "py-dealer", "req": "py-req"} {
			frames := got[kind]
			if len(frames) != 1 {
				t.Errorf("%s %s: got frames %q, want one reply frame", ep, kind, frames)
				continue
			}
			var r map[string]any
			if err := json.Unmarshal([]byte(frames[0]), &r); err != nil || r["id"] != want || r["status"] != "ok" {
				t.Errorf("%s %s: reply %s", ep, kind, frames[0])
			}
		}
	}
}
