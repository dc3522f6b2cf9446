package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/poold/poold/events/zmqguard/zmtptest"
	"github.com/poold/poold/watcher/proctest"
)

// castDuringHandOver has cast (a request's JSON) read by the old image
// during an upgrade's hand-over (in the middle of its frame at the
// freeze: its loop takes it, the state carries it), and waits until the
// new image has taken over.
func castDuringHandOver(t *testing.T, cast string) *upProc {
	t.Helper()
	hold := filepath.Join(t.TempDir(), "hold")
	p := startUpgradable(t, fmt.Sprintf(upgradeConfig, 1), envTestHoldOld+"="+hold)
	proctest.Eventually(t, "1 worker", func() bool { return len(p.pids("web")) == 1 })
	c := rawPeer(t, p)
	if s, err := ask(c, "before"); err != nil || s != "ok" {
		t.Fatalf("before the upgrade: %s %v", s, err)
	}
	frame := zmtptest.Frame(0, []byte(cast))
	sendRead(t, c, frame[:10])
	release := holdUpgrade(t, p, hold)
	if _, err := c.Conn.Write(frame[10:]); err != nil {
		t.Fatal(err)
	}
	release()
	waitUpgraded(t, p)
	proctest.Eventually(t, "the new image to take the cast", func() bool {
		return contains(p.log.String(), "running a cast the previous image took") || contains(p.log.String(), "upgrade cast that came during")
	})
	return p
}

// failedCastLogged reports whether p's log says a cast incr of nosuch failed.
func failedCastLogged(p *upProc) bool {
	for _, l := range strings.Split(p.log.String(), "\n") {
		if contains(l, "command failed", "command=incr", "nosuch") {
			return true
		}
	}
	return false
}

// A cast that fails is logged as failed, as any write command is: its
// sender reads no reply, so nothing else says a write was not done.
func TestCastThatFailedIsLogged(t *testing.T) {
	t.Parallel()
	p := startUpgradable(t, fmt.Sprintf(upgradeConfig, 1))
	c := rawPeer(t, p)
	if err := c.Send([]byte(`{"command": "incr", "properties": {"name": "nosuch"}, "msg_type": "cast"}`)); err != nil {
		t.Fatal(err)
	}
	proctest.Eventually(t, "the cast's failure in poold's log", func() bool { return failedCastLogged(p) })
}

// A cast the old image took during its hand-over and the new one ran is
// logged as failed when it fails, as any command run by Do is: a write
// lost so left no trace in the log.
func TestUpgradeLogsHandedCastThatFailed(t *testing.T) {
	t.Parallel()
	p := castDuringHandOver(t, `{"command": "incr", "properties": {"name": "nosuch"}, "msg_type": "cast"}`)
	proctest.Eventually(t, "the handed-over cast's failure in poold's log", func() bool { return failedCastLogged(p) })
}

// An upgrade cast that came during an upgrade is not run by the image
// that upgrade brought: it asked for that upgrade, not for a second exec
// of the same binary (as a second SIGUSR2: see TestSignalWhileNewImageStarts).
// It was run at once, before the new image served anything.
func TestUpgradeRefusesHandedUpgradeCast(t *testing.T) {
	t.Parallel()
	p := castDuringHandOver(t, `{"command": "upgrade", "msg_type": "cast"}`)
	proctest.Eventually(t, "the refusal in poold's log", func() bool {
		return contains(p.log.String(), "upgrade cast that came during the previous upgrade not run")
	})
	if o := p.outcome(); o["id"] != float64(1) || o["state"] != "upgraded" {
		t.Errorf("outcome %v; want upgrade 1, upgraded, and no other", o)
	}
	if n := strings.Count(p.log.String(), "upgrade: re-executing poold"); n != 1 {
		t.Errorf("poold re-executed itself %d times; want once", n)
	}
}
