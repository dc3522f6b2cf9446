package main

import (
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/events/zmqguard/zmtptest"
	"github.com/poold/poold/watcher/proctest"
	"golang.org/x/sys/unix"
)

// rawPeer is a raw ZMTP DEALER on p's control endpoint (ipc), handshaken.
func rawPeer(t *testing.T, p *upProc) *zmtptest.Peer {
	t.Helper()
	c, err := zmtptest.Dial("unix", filepath.Join(p.dir, "c.sock"), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Handshake("DEALER", ""); err != nil {
		t.Fatal(err)
	}
	return c
}

// ask sends a request with id on c and returns the reply's status, or
// the error that ended the wait for it.
func ask(c *zmtptest.Peer, id string) (string, error) {
	b, _ := json.Marshal(map[string]any{"id": id, "command": "numwatchers"})
	if err := c.Send(b); err != nil {
		return "", err
	}
	_ = c.Conn.SetReadDeadline(time.Now().Add(hang))
	defer c.Conn.SetReadDeadline(time.Time{})
	m, err := c.Recv()
	if err != nil {
		return "", err
	}
	var r map[string]any
	if err := json.Unmarshal(m[len(m)-1], &r); err != nil || r["id"] != id {
		return "", fmt.Errorf("reply %q to %s", m, id)
	}
	return fmt.Sprint(r["status"]), nil
}

// sendRead writes b on c and waits until poold has read all of it (the
// socket's send queue is empty).
func sendRead(t *testing.T, c *zmtptest.Peer, b []byte) {
	t.Helper()
	if _, err := c.Conn.Write(b); err != nil {
		t.Fatal(err)
	}
	rc, err := c.Conn.(*net.UnixConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	proctest.Eventually(t, "poold to read what was sent", func() bool {
		n := -1
		_ = rc.Control(func(fd uintptr) { n, _ = unix.IoctlGetInt(int(fd), unix.SIOCOUTQ) })
		return n == 0
	})
}

// A cast poold is reading when its connections freeze (in the middle of
// its frame) reaches the old image's loop during the hand-over; it is
// run by the new image, and the connection goes on there. Before, that
// loop dropped it: a cast has no reply, so nobody knew (1 in 4 upgrades
// with a cast every 2 ms).
func TestUpgradeRunsCastReadDuringHandOver(t *testing.T) {
	t.Parallel()
	hold := filepath.Join(t.TempDir(), "hold")
	p := startUpgradable(t, fmt.Sprintf(upgradeConfig, 1), envTestHoldOld+"="+hold)
	proctest.Eventually(t, "1 worker", func() bool { return len(p.pids("web")) == 1 })
	c := rawPeer(t, p)
	if s, err := ask(c, "before"); err != nil || s != "ok" {
		t.Fatalf("before the upgrade: %s %v", s, err)
	}
	cast := zmtptest.Frame(0, []byte(`{"command": "incr", "properties": {"name": "web"}, "msg_type": "cast"}`))
	sendRead(t, c, cast[:10]) // the guard is in the middle of its frame
	release := holdUpgrade(t, p, hold)
	if _, err := c.Conn.Write(cast[10:]); err != nil { // read by the old image, frozen
		t.Fatal(err)
	}
	release()
	waitUpgraded(t, p)
	proctest.Eventually(t, "the cast run: 2 workers", func() bool { return len(p.pids("web")) == 2 })
	if s, err := ask(c, "after"); err != nil || s != "ok" {
		t.Errorf("the connection after the upgrade: %s %v", s, err)
	}
}

// A connection stopped in the middle of a message holds the exec for
// holdWait once, not once per wait of the hand-over (twice, before), and
// the log says what was waited for: not "requests unanswered", when
// every request was answered.
func TestUpgradeWaitsOnceForAConnectionInAMessage(t *testing.T) {
	t.Parallel()
	p := startUpgradable(t, fmt.Sprintf(upgradeConfig, 1))
	proctest.Eventually(t, "1 worker", func() bool { return len(p.pids("web")) == 1 })
	c := rawPeer(t, p)
	sendRead(t, c, zmtptest.Frame(0, []byte(`{"command": "status"}`))[:6])
	out, refused := p.upgrade()
	if refused != nil || out["state"] != "upgraded" {
		t.Fatalf("upgrade: %v %v", out, refused)
	}
	if !c.WaitClosed(hang) {
		t.Errorf("the connection in the middle of a message was not closed by the exec")
	}
	log := p.log.String()
	if n := strings.Count(log, "control endpoint not quiet"); n != 1 {
		t.Errorf("the log says %d times that the endpoint was not quiet, want once:\n%s", n, grepLines(log, "upgrade", ""))
	}
	if !strings.Contains(log, "1 connection(s) on ") || !strings.Contains(log, "in the middle of a message") {
		t.Errorf("the log does not say a connection was in the middle of a message:\n%s", grepLines(log, "upgrade", ""))
	}
	if strings.Contains(log, "unanswered; executing") || strings.Contains(log, "not answered yet") {
		t.Errorf("the log says requests were unanswered; none was:\n%s", grepLines(log, "upgrade", ""))
	}
}

// Short of fds (one more per open connection for the hand-over), the
// upgrade hands over the connections that fit and the exec closes the
// rest, as it did before connections were handed over; the log says why
// and what to do. Before, the upgrade was refused: "memfd for the state:
// too many open files".
func TestUpgradeShortOfFDsHandsOverWhatFits(t *testing.T) {
	t.Parallel()
	p := newUpProc(t, "", fmt.Sprintf(upgradeConfig, 1))
	p.install(pooldBinary(t))
	p.wrap = "ulimit -n 96; "
	p.start()
	proctest.Eventually(t, "1 worker", func() bool { return len(p.pids("web")) == 1 })
	var peers []*zmtptest.Peer
	for range 40 {
		c := rawPeer(t, p)
		if s, err := ask(c, "before"); err != nil || s != "ok" {
			t.Fatalf("before the upgrade: %s %v (%d fds)", s, err, openFDs(t, p.cmd.Process.Pid))
		}
		peers = append(peers, c)
	}
	out, refused := p.upgrade()
	if refused != nil || out["state"] != "upgraded" {
		t.Fatalf("upgrade with %d fds of 96 open: %v %v", openFDs(t, p.cmd.Process.Pid), out, refused)
	}
	kept, closed := 0, 0
	for i, c := range peers {
		if _, err := ask(c, fmt.Sprint("after", i)); err == nil {
			kept++
		} else {
			closed++
		}
	}
	log := p.log.String()
	if kept == 0 || closed == 0 || !strings.Contains(log, "short of fds") || !strings.Contains(log, "LimitNOFILE") {
		t.Errorf("%d connections kept, %d closed; want some of each, and the log to say why and what to do:\n%s", kept, closed, grepLines(log, "upgrade", ""))
	}
	if s, err := ask(rawPeer(t, p), "fresh"); err != nil || s != "ok" {
		t.Errorf("a fresh connection after the upgrade: %s %v", s, err)
	}
}
