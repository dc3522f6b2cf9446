package main

import (
	"fmt"
	"strings"
	"testing"
)

// r56 systemd review, finding 1: after an in-place upgrade the new image
// sent no READY=1 while a watcher that counts for readiness was not ready
// (its first READY=1 waited for every watcher, as at a start), so the old
// image's RELOADING=1 left the unit "reloading" until TimeoutStartSec, with
// every systemctl reload or restart queued behind it. READY=1 now follows
// the take-over, as it follows a config reload, and STATUS= names what is
// not ready.
func TestUpgradeNotifiesSystemdWhenNotReady(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		extra  string          // more config
		unwell func(p *upProc) // makes a watcher that counts not ready
		status string          // in STATUS= with the READY=1 after the upgrade
	}{
		{"stopped alone on its socket", "", func(p *upProc) {
			if r := p.do("stop", map[string]any{"name": "web", "waiting": true}); r["status"] != "ok" {
				t.Fatalf("stop web: %v", r)
			}
		}, `watcher "web" is stopped on purpose`},
		// The crash worker never says READY=1: with readiness spawn a
		// -race worker slow to crash under load counted as ready for a
		// moment, and STATUS could say every worker was (docs4 trial).
		{"flapping", `
[watchers.flappy]
cmd = @WORKER@
env = ["POOLD_TEST_WORKER=crash"]
autostart = false
readiness = "notify"
`, func(p *upProc) {
			if r := p.do("start", map[string]any{"name": "flappy"}); r["status"] != "ok" {
				t.Fatalf("start flappy: %v", r)
			}
		}, `"flappy"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sock, msgs := systemdSocket(t)
			p := startUpgradable(t, fmt.Sprintf(upgradeConfig, 1)+tt.extra, "NOTIFY_SOCKET="+sock)
			pid := p.cmd.Process.Pid
			next(t, msgs, pid, "READY=1")
			tt.unwell(p)
			if o, refused := p.upgrade(); refused != nil || o["state"] != "upgraded" {
				t.Fatalf("upgrade: %v %v", o, refused)
			}
			next(t, msgs, pid, "RELOADING=1")
			ready := next(t, msgs, pid, "READY=1")
			if st := ready.field("STATUS"); !strings.Contains(st, tt.status) {
				t.Errorf("STATUS with the READY=1 after the upgrade = %q, want it to name what is not ready (%s)", st, tt.status)
			}
		})
	}
}

// An upgrade before poold's first READY=1 (systemd still starting it, a
// watcher flapping from the start): no RELOADING=1, which systemd would
// ignore, and the new image sends the start's READY=1 once every watcher
// is ready (here: once the flapping one is stopped), not once it took
// over. The flapping watcher waits for a READY=1 its worker never sends:
// with readiness spawn, a respawned worker counted as ready until it
// crashed, and poold's first READY=1 could come before the upgrade.
func TestUpgradeBeforeSystemdHadReady(t *testing.T) {
	t.Parallel()
	sock, msgs := systemdSocket(t)
	p := startUpgradable(t, fmt.Sprintf(upgradeConfig, 1)+`
[watchers.flappy]
cmd = @WORKER@
env = ["POOLD_TEST_WORKER=crash"]
readiness = "notify"
`, "NOTIFY_SOCKET="+sock)
	pid := p.cmd.Process.Pid
	next(t, msgs, pid, `STATUS=2 watchers, 1/2 workers ready; watcher "flappy" *`)
	if o, refused := p.upgrade(); refused != nil || o["state"] != "upgraded" {
		t.Fatalf("upgrade: %v %v", o, refused)
	}
	if m := next(t, msgs, pid, "STATUS=upgrading poold in place"); m.has("RELOADING=1") {
		t.Errorf("RELOADING=1 before the first READY=1: %q", m.text)
	}
	if r := p.do("stop", map[string]any{"name": "flappy", "waiting": true}); r["status"] != "ok" {
		t.Fatalf("stop flappy: %v", r)
	}
	if st := next(t, msgs, pid, "READY=1").field("STATUS"); st != "2 watchers, 1/1 workers ready" {
		t.Errorf("STATUS with READY=1 = %q, want every watcher ready (flappy stopped): READY=1 came before", st)
	}
}
