package controller_test

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/arbiter/controller"
	"github.com/poold/poold/events/zmqguard/zmtptest"
	"github.com/poold/poold/watcher/proctest"
)

// completedAsUID opens n control connections whose SO_PEERCRED uid is
// uid and completes each one's ZMTP handshake as a DEALER, one after
// another, as a local user holding connections does. Those the
// controller closes are closed on its side only; all are closed when the
// test ends.
func completedAsUID(t testing.TB, n, uid int, path string) []*zmtptest.Peer {
	t.Helper()
	ps := make([]*zmtptest.Peer, 0, n)
	for i := range n {
		p := peerAsUID(t, uid, path)
		if err := p.Handshake("DEALER", ""); err != nil {
			t.Fatalf("handshake %d of %d as uid %d: %v", i+1, n, uid, err)
		}
		ps = append(ps, p)
	}
	return ps
}

// askDealer sends one request on a DEALER peer and decodes its reply.
func askDealer(t testing.TB, p *zmtptest.Peer, req string) map[string]any {
	t.Helper()
	if err := p.Send([]byte(req)); err != nil {
		t.Fatalf("send %s: %v", req, err)
	}
	msg := recvTimeout(t, p)
	var r map[string]any
	if err := json.Unmarshal(msg[len(msg)-1], &r); err != nil {
		t.Fatalf("reply %q: %v", msg, err)
	}
	return r
}

// defaultPerPeer is the bound README "Security" gives a uid's control
// connections: a quarter of the total bound, itself a quarter of the
// open-file limit (64 to 4096), at least 16.
func defaultPerPeer(t testing.TB) int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	return max(int(min(max(rl.Cur/4, 64), 4096))/4, 16)
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test connects as other uids (SO_PEERCRED) and needs root")
	}
}

// wideACL makes the endpoint 0666 with uid 65534 read-only, and serves it
// on an abstract socket (no directory for the other uids to enter).
func wideACL(t *testing.T, name string, log *lockedBuffer) served {
	t.Helper()
	acl, err := controller.NewACL(nil, []string{"uid:65534"})
	if err != nil {
		t.Fatal(err)
	}
	ep := fmt.Sprintf("ipc://@poold-%s-%d", name, os.Getpid())
	return serveLogging(t, ep, newEcho().handle, func(c *controller.Controller) { c.SetACL(acl) }, log)
}

// A uid that matches no rule is told why, then its connection is closed:
// it can run nothing, so it has no reason to keep one, and holding them
// open was how any local user used up poold's file descriptors (the
// socket is 0666 once a rule names another user). Those it opens and
// never uses are bounded to a few.
func TestRefusedPeerIsHungUpOn(t *testing.T) {
	needRoot(t)
	log := &lockedBuffer{}
	s := wideACL(t, "hangup", log)
	path := s.ep[len("ipc://"):]

	p := peerAsUID(t, 65533, path)
	if err := p.Handshake("DEALER", ""); err != nil {
		t.Fatal(err)
	}
	r := askDealer(t, p, `{"id":"a1","command":"status"}`)
	if r["errno"] != float64(arbiter.ErrnoForbidden) || !strings.Contains(fmt.Sprint(r["reason"]), "matches no rule") {
		t.Fatalf("refused peer's reply %v: want errno %d saying it matches no rule", r, arbiter.ErrnoForbidden)
	}
	if !p.WaitClosed(30 * time.Second) {
		t.Fatal("the connection of a uid that matches no rule is still open 30s after its refusal")
	}

	// Silent ones (handshake done, no request) are bounded too.
	base := s.Stats().Conns
	completedAsUID(t, 20, 65533, path)
	proctest.Eventually(t, "uid 65533's unused connections to be bounded", func() bool {
		return s.Stats().Conns-base <= 4
	})
	// The read-only uid is still served, and root's client too.
	ro := completedAsUID(t, 1, 65534, path)[0]
	if r := askDealer(t, ro, `{"id":"b1","command":"status"}`); r["status"] != "ok" {
		t.Errorf("read-only peer's status: %v", r)
	}
	mustStatus(t, dial(t, s.ep), "status")
	if !strings.Contains(log.String(), "peer=uid:65533") {
		t.Errorf("no log line names the peer whose connections were closed:\n%s", log)
	}
}

// A uid that matches no rule and said nothing, or nothing more after a
// reply that did not hang up on it (a malformed request's), held its
// connections (up to 4) for as long as it liked: each is now closed a
// few seconds after its peer last spoke. A quiet connection of a uid the
// rules admit (a persistent CircusClient) is kept.
func TestRefusedPeerQuietConnectionIsClosed(t *testing.T) {
	needRoot(t)
	s := wideACL(t, "quiet", &lockedBuffer{})
	path := s.ep[len("ipc://"):]
	admitted := completedAsUID(t, 1, 65534, path)[0]
	refused := completedAsUID(t, 2, 65533, path)
	if err := refused[1].Send([]byte("{")); err != nil {
		t.Fatal(err)
	}
	recvTimeout(t, refused[1])
	for i, p := range refused {
		if !p.WaitClosed(30 * time.Second) {
			t.Fatalf("connection %d of a uid that matches no rule, quiet, is still open after 30s", i+1)
		}
	}
	// Quiet longer than either, the admitted uid's is still served.
	if r := askDealer(t, admitted, `{"id":"q1","command":"status"}`); r["status"] != "ok" {
		t.Errorf("the read-only peer's quiet connection: %v", r)
	}
	if n := s.Stats().IdleClosed; n != 2 {
		t.Errorf("IdleClosed = %d, want 2", n)
	}
}

// A uid that may use the endpoint (read-only here) holds at most its
// share of completed connections: past it, its own connection quiet the
// longest is closed, the newest keeps working, and root's poolctl gets
// in. Before the bound, two processes of one uid held 20,000 and poold
// could start no worker.
func TestCompletedCrowdBoundedPerPeer(t *testing.T) {
	needRoot(t)
	log := &lockedBuffer{}
	s := wideACL(t, "crowd", log)
	perPeer := defaultPerPeer(t)
	n := perPeer + 40

	crowd := completedAsUID(t, n, 65534, s.ep[len("ipc://"):])
	proctest.Eventually(t, fmt.Sprintf("uid 65534's %d connections to be cut to %d", n, perPeer), func() bool {
		return s.Stats().Conns <= int64(perPeer)
	})
	if !crowd[0].WaitClosed(10 * time.Second) {
		t.Error("the crowd's oldest quiet connection is still open")
	}
	if r := askDealer(t, crowd[n-1], `{"id":"c1","command":"status"}`); r["status"] != "ok" {
		t.Errorf("the crowd's newest connection: %v", r)
	}
	mustStatus(t, dial(t, s.ep), "status")
	want := fmt.Sprintf("peer=uid:65534 bound=peer limit=%d", perPeer)
	if !strings.Contains(log.String(), want) {
		t.Errorf("log does not say %q:\n%s", want, log)
	}
	if c := strings.Count(log.String(), "control connection closed to make room"); c != 1 {
		t.Errorf("%d log lines for %d closed connections of one peer, want 1 a minute:\n%s", c, n-perPeer, log)
	}
}

// ControlConns says how many connections the endpoint holds and whose,
// for the error of a worker poold could not start for want of fds.
func TestControlConnsNamesTheHolders(t *testing.T) {
	needRoot(t)
	s := wideACL(t, "holders", &lockedBuffer{})
	completedAsUID(t, 3, 65534, s.ep[len("ipc://"):])
	completedAsUID(t, 1, 0, s.ep[len("ipc://"):])
	proctest.Eventually(t, "four connections held", func() bool { n, _ := s.ControlConns(); return n == 4 })
	if _, who := s.ControlConns(); who != "uid:65534 3, uid:0 1" {
		t.Errorf("ControlConns names %q, want \"uid:65534 3, uid:0 1\"", who)
	}
}

// A reload whose rules newly refused a uid left that uid's quiet
// connections open for good: the idle bound was decided once, at each
// connection's handshake. The new rules now apply to those open too: they
// are closed once quiet for the bound, and an admitted uid's are kept.
func TestReloadedRulesCloseANewlyRefusedQuietConnection(t *testing.T) {
	needRoot(t)
	acl, err := controller.NewACL(nil, []string{"uid:65534", "uid:65532"})
	if err != nil {
		t.Fatal(err)
	}
	ep := fmt.Sprintf("ipc://@poold-reload-%d", os.Getpid())
	s := serveLogging(t, ep, newEcho().handle, func(c *controller.Controller) { c.SetACL(acl) }, &lockedBuffer{})
	path := s.ep[len("ipc://"):]
	before := completedAsUID(t, 1, 65534, path)[0]
	kept := completedAsUID(t, 1, 65532, path)[0]
	proctest.Eventually(t, "both connections held", func() bool { n, _ := s.ControlConns(); return n == 2 })
	// The reload: uid 65534 no longer named.
	acl, err = controller.NewACL(nil, []string{"uid:65532"})
	if err != nil {
		t.Fatal(err)
	}
	s.SetACL(acl)
	if !before.WaitClosed(30 * time.Second) {
		t.Fatal("a quiet connection of a uid the reloaded rules refuse is still open after 30s")
	}
	if r := askDealer(t, kept, `{"id":"k1","command":"status"}`); r["status"] != "ok" {
		t.Errorf("the quiet connection of a uid the reloaded rules admit: %v", r)
	}
}
