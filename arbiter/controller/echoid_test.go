package controller_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/arbiter/controller"
	"github.com/poold/poold/events/zmqguard/zmtptest"
)

// idCases are requests with a number, a string and no id, and the id
// circusd (and poold's ordinary replies) answer each with.
var idCases = []struct {
	id   string // the "id" member of the request, "" for none
	want any
}{
	{`"id": 5, `, 5.0},
	{`"id": "abc", `, "abc"},
	{``, nil},
}

// askRaw sends one request as a DEALER ([request]) or a REQ (["", request])
// and returns its decoded reply.
func askRaw(t testing.TB, p *zmtptest.Peer, req bool, body string) map[string]any {
	t.Helper()
	frames := [][]byte{[]byte(body)}
	if req {
		frames = append([][]byte{nil}, frames...)
	}
	if err := p.Send(frames...); err != nil {
		t.Fatal(err)
	}
	return decodeFramed(t, req, recvTimeout(t, p))
}

// decodeFramed parses a reply to a DEALER or (req) a REQ request.
func decodeFramed(t testing.TB, req bool, msg [][]byte) map[string]any {
	t.Helper()
	if req {
		if len(msg) != 2 || len(msg[0]) != 0 {
			t.Fatalf("reply %q to a REQ request: want the empty delimiter and the reply", msg)
		}
		msg = msg[1:]
	}
	return decodeReply(t, msg)
}

// checkEcho fails unless r is an errno error reply carrying "id": want.
func checkEcho(t testing.TB, what string, r map[string]any, errno int, want any) {
	t.Helper()
	id, has := r["id"]
	if r["status"] != "error" || r["errno"] != float64(errno) || !has || id != want {
		t.Errorf("%s: reply %v with \"id\": %#v (present: %v); want errno %d with \"id\": %#v", what, r, id, has, errno, want)
	}
}

// A request refused because its connection has too much queued behind
// waiting requests gets its id back as sent, as an ordinary reply does;
// it used to get "" (no id), or "5" for 5. A cast still gets no reply.
func TestBusyReplyEchoesTheIDAsSent(t *testing.T) {
	e, p := stuckPeer(t)
	for i, tc := range idCases {
		sendAll(t, p, fmt.Sprintf(`{%s"command":"status"}`, tc.id))
		if i == 0 {
			sendAll(t, p, `{"id":"c","command":"status","msg_type":"cast"}`)
		}
	}
	for _, tc := range idCases {
		r := decodeReply(t, recvTimeout(t, p))
		checkEcho(t, fmt.Sprintf("busy, request {%s...}", tc.id), r, arbiter.ErrnoFailed, tc.want)
	}
	close(e.release)
	for range 4 { // b1, b2, s1, s2
		if r := decodeReply(t, recvTimeout(t, p)); r["status"] != "ok" {
			t.Errorf("reply %v after the release; want ok", r)
		}
	}
}

// A handler that panics is answered errno 0 with the id as sent.
func TestPanicReplyEchoesTheIDAsSent(t *testing.T) {
	panics := func(context.Context, []byte) ([]byte, bool) { panic("boom") }
	s := serveLogging(t, "tcp://127.0.0.1:0", panics, nil, io.Discard)
	for _, sockType := range []string{"DEALER", "REQ"} {
		p := rawPeer(t, s, sockType, 0)
		for _, tc := range idCases {
			r := askRaw(t, p, sockType == "REQ", fmt.Sprintf(`{%s"command":"status"}`, tc.id))
			checkEcho(t, fmt.Sprintf("%s, panic, request {%s...}", sockType, tc.id), r, arbiter.ErrnoUnspecified, tc.want)
		}
	}
}

// A command the peer's role does not allow (a read-only uid sending
// incr) is refused with the id as sent.
func TestRefusalEchoesTheIDAsSent(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test connects as uid 65534 (a read-only peer) and needs root")
	}
	acl, err := controller.NewACL(nil, []string{"uid:65534"})
	if err != nil {
		t.Fatal(err)
	}
	// An abstract socket: no file or directory for uid 65534 to reach.
	ep := fmt.Sprintf("ipc://@poold-echoid-%d", os.Getpid())
	s := serveLogging(t, ep, newEcho().handle, func(c *controller.Controller) { c.SetACL(acl) }, io.Discard)
	for _, sockType := range []string{"DEALER", "REQ"} {
		p := peerAsUID(t, 65534, s.ep[len("ipc://"):])
		if err := p.Handshake(sockType, ""); err != nil {
			t.Fatal(err)
		}
		for _, tc := range idCases {
			r := askRaw(t, p, sockType == "REQ", fmt.Sprintf(`{%s"command":"incr","properties":{"name":"web"}}`, tc.id))
			checkEcho(t, fmt.Sprintf("%s, refused, request {%s...}", sockType, tc.id), r, arbiter.ErrnoForbidden, tc.want)
		}
		// The same peer's read-only commands pass.
		if r := askRaw(t, p, sockType == "REQ", `{"id": 6, "command":"status"}`); r["status"] != "ok" || r["id"] != "6" {
			t.Errorf("%s, status as a read-only peer: %v; want ok (the echo handler's own id)", sockType, r)
		}
	}
}

// peerAsUID connects to the unix socket path from a thread whose
// effective uid alone is uid (the raw syscall, unlike syscall.Setuid,
// touches one thread), so SO_PEERCRED reports uid. The goroutine never
// unlocks that thread: the runtime ends it when the goroutine returns.
func peerAsUID(t testing.TB, uid int, path string) *zmtptest.Peer {
	t.Helper()
	type result struct {
		p   *zmtptest.Peer
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, ^uintptr(0), uintptr(uid), ^uintptr(0)); e != 0 {
			done <- result{err: fmt.Errorf("setresuid on one thread: %w", e)}
			return
		}
		p, err := zmtptest.Dial("unix", path, 0)
		done <- result{p, err}
	}()
	r := <-done
	if r.err != nil {
		t.Fatalf("connect to %s as uid %d: %v", path, uid, r.err)
	}
	t.Cleanup(func() { r.p.Close() })
	return r.p
}
