package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/poold/poold/arbiter/upgrade"
	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/proctest"
)

// TestUpgradeCheckRefusesAWatcherWhoseUserIsGone: the new image makes
// each handed-over watcher again with its user's ids; one whose user was
// deleted since it started (a reload lets it run on, since the user is a
// machine fact checked only for the watchers a reload touches) would stop
// the new image, and every worker with it. The pre-flight's
// --upgrade-check refuses it first, nothing changed.
func TestUpgradeCheckRefusesAWatcherWhoseUserIsGone(t *testing.T) {
	t.Parallel()
	state := func(uid string) *bytes.Buffer {
		w := configs.DefaultWatcher("b")
		w.Cmd, w.UID = "/bin/sleep", uid
		raw, err := json.Marshal(&upgrade.State{Version: upgrade.Version, Config: &configs.Config{Watchers: []configs.Watcher{w}}})
		if err != nil {
			t.Fatal(err)
		}
		return bytes.NewBuffer(raw)
	}
	var out bytes.Buffer
	if asked, err := printVersion([]string{"--upgrade-check"}, state("0"), &out); !asked || err != nil {
		t.Fatalf("--upgrade-check of a state whose user exists: %v, %v", asked, err)
	}
	_, err := printVersion([]string{"--upgrade-check"}, state("no-such-user-poold"), &out)
	// Between the two: where it was looked for (the files, NSS).
	want := []string{`upgrade check: configs: watcher "b": uid: no user "no-such-user-poold" on this machine (not in /etc/passwd`,
		`: use an existing user name or a number (the new image could not take this watcher over)`}
	if err == nil || !strings.Contains(err.Error(), want[0]) || !strings.Contains(err.Error(), want[1]) {
		t.Fatalf("--upgrade-check of a state whose watcher's user is gone: %v, want %q", err, want)
	}
}

// TestStartRefusesAMissingUser: the config validation no longer looks a
// watcher's user and group up (a machine fact, so that one deleted under
// a running watcher blocks no reload); poold --check still reports them
// and poold still refuses to start on them, naming file and key (a
// watcher is made with its user's ids: it could not even retry), rather
// than warning, starting, and then failing without the file's words.
func TestStartRefusesAMissingUser(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ key, value, want string }{
		{"uid", "no-such-user-poold", `watchers.b.uid: no user "no-such-user-poold" on this machine`},
		{"gid", "no-such-group-poold", `watchers.b.gid: no group "no-such-group-poold" on this machine`},
	} {
		path := writeConfig(t, t.TempDir(), fmt.Sprintf("[watchers.a]\ncmd = \"sleep 1\"\n[watchers.b]\ncmd = \"sleep 1\"\n%s = %q\n", tc.key, tc.value))
		for _, args := range [][]string{{"--check", path}, {path}} {
			var out, errb bytes.Buffer
			code := exitCode(run(context.Background(), args, &out, &errb), &errb)
			if code != exitConfig || !strings.Contains(errb.String(), "configs: "+path+":5:1: "+tc.want) {
				t.Errorf("poold %s: exit %d, want 78 and %q on stderr:\n%s", strings.Join(args, " "), code, tc.want, errb.String())
			}
			if strings.Contains(errb.String(), "starting with watchers") {
				t.Errorf("poold %s: warned it starts:\n%s", strings.Join(args, " "), errb.String())
			}
		}
	}
}

// TestUpgradeOutcomeCarriesConfigWarnings: the new image reads the config
// file, and its warnings (here an override variable of a watcher the file
// does not define) went only to its stderr; the upgrade's outcome
// (upgrade_status, which poolctl upgrade prints) said nothing. It carries
// them now.
func TestUpgradeOutcomeCarriesConfigWarnings(t *testing.T) {
	t.Parallel()
	p := startUpgradable(t, fmt.Sprintf(upgradeConfig, 1), "POOLD_WATCHERS_GONE_NUMPROCESSES=2")
	proctest.Eventually(t, "1 worker", func() bool { return len(p.pids("web")) == 1 })
	out, refused := p.upgrade()
	if refused != nil {
		t.Fatalf("upgrade refused: %v", refused)
	}
	var warnings []any // but the one about env in a file others may read (the test's is 0644)
	all, _ := out["warnings"].([]any)
	for _, w := range all {
		if !strings.Contains(fmt.Sprint(w), "watchers.web.env: the env of") {
			warnings = append(warnings, w)
		}
	}
	want := "environment variable POOLD_WATCHERS_GONE_NUMPROCESSES"
	if out["state"] != "upgraded" || len(warnings) != 1 || !strings.Contains(fmt.Sprint(warnings[0]), want) {
		t.Errorf("upgrade outcome %v, want upgraded with one warning naming %s", out, want)
	}
}
