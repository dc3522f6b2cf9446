package metrics

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/poold/poold/arbiter"
)

// An operator could not alert on an in-place upgrade that was refused or
// rolled back: /metrics said nothing of upgrades (r47 upgrade tester).
// poold_upgrade_state gives the last outcome, as upgrade_status does.
func TestScrapeShowsTheLastUpgradesOutcome(t *testing.T) {
	up := &arbiter.Upgrader{Version: "test", Exe: "/nonexistent/poold",
		Preflight: func(context.Context, []byte) (string, error) {
			return "", errors.New("the new binary exited 1 on purpose")
		}}
	r := newUpgradableRig(t, rigConfig(), up)
	wantUpgrade(t, r, "none", time.Time{})

	asked := refusedUpgrade(t, r, "a failing pre-flight")
	wantUpgrade(t, r, "refused", asked)
}

// wantUpgrade checks poold_upgrade_state is 1 for state alone, and the
// last upgrade's timestamp (zero: none).
func wantUpgrade(t *testing.T, r *rig, state string, asked time.Time) {
	t.Helper()
	fams, body := r.scrape()
	for _, st := range upgradeStates {
		v, ok := value(fams, "poold_upgrade_state", map[string]string{"state": st})
		if want := boolFloat(st == state); !ok || v != want {
			t.Errorf("poold_upgrade_state{state=%q} = %v (present %v), want %v", st, v, ok, want)
		}
	}
	at, _ := value(fams, "poold_last_upgrade_timestamp_seconds", nil)
	switch {
	case asked.IsZero() && at != 0:
		t.Errorf("poold_last_upgrade_timestamp_seconds = %v before any upgrade, want 0", at)
	case !asked.IsZero() && (at < float64(asked.Unix())-1 || at > float64(time.Now().Unix())+1):
		t.Errorf("poold_last_upgrade_timestamp_seconds = %v, want about %v", at, asked.Unix())
	}
	promtoolCheck(t, body)
}

// An upgrade refused before its pre-flight (workers an rm --nostop left
// running would be lost) left the metric at the outcome before it, so an
// alert on refused stayed silent (r48b review).
func TestScrapeShowsAnUpgradeRefusedBeforeItsPreflight(t *testing.T) {
	up := &arbiter.Upgrader{Version: "test", Exe: "/nonexistent/poold",
		Preflight: func(context.Context, []byte) (string, error) { return "next", nil }}
	r := newUpgradableRig(t, rigConfig(), up)
	r.do("rm", map[string]any{"name": "web", "nostop": true})
	asked := refusedUpgrade(t, r, "workers left running by rm --nostop")
	wantUpgrade(t, r, "refused", asked)
}

// refusedUpgrade asks r's poold to upgrade, which it must refuse (why
// says why it should), and returns when it asked.
func refusedUpgrade(t *testing.T, r *rig, why string) time.Time {
	t.Helper()
	asked := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	if rep := r.a.Do(ctx, arbiter.Request{ID: "t", Command: "upgrade"}); rep["status"] != "error" {
		t.Fatalf("upgrade with %s: %v, want refused", why, rep)
	}
	return asked
}
