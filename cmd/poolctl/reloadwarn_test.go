package main

import (
	"strings"
	"testing"
)

// TestReloadPrintsConfigWarnings: the warnings of the config a reload
// read (the reply's warnings, which poold adds only when there are some)
// were only in poold's log; poolctl printed a plain success. They go to
// stderr, exit 0 (the config applied), with --json too, before the
// restart_needed warning.
func TestReloadPrintsConfigWarnings(t *testing.T) {
	t.Parallel()
	warning := `configs: /etc/poold.toml: POOLD_WATCHERS_GONE_NUMPROCESSES: no watcher "gone" in the file; the variable is ignored`
	f := reloadFake(t, map[string]any{"status": "ok", "unchanged": []string{"web"},
		"warnings": []string{warning}, "restart_needed": []string{"web.address"}})
	want := "poolctl: warning: " + warning + "\n" +
		"poolctl: warning: web.address changed in the config but keeps its old value until poold restarts or is upgraded in place; run poolctl upgrade, or restart poold, to apply it\n"
	for _, args := range [][]string{{"reloadconfig"}, {"--json", "reloadconfig"}} {
		r := poolctl(t, append([]string{"--endpoint", f.endpoint, "--pubsub-endpoint", missingEndpoint(t)}, args...)...)
		if r.code != 0 || !strings.HasSuffix(r.stderr, want) || strings.Contains(r.stdout, "warning: configs") {
			t.Errorf("poolctl %s: want exit 0 and on stderr %q, got %v", strings.Join(args, " "), want, r)
		}
	}
	// A reload that applied in part (errno 6) names them too.
	f = reloadFake(t, map[string]any{"status": "error", "errno": 6, "reason": `reloadconfig: watcher "api" rolled back`,
		"updated": []string{}, "rolled_back": map[string]string{"api": "why"}, "warnings": []string{warning}})
	r := poolctl(t, "--endpoint", f.endpoint, "--pubsub-endpoint", missingEndpoint(t), "reloadconfig")
	if r.code != exitReplyError || !strings.Contains(r.stderr, "poolctl: warning: "+warning+"\n") {
		t.Errorf("failed reload with a warning: want exit 1 and the warning on stderr, got %v", r)
	}
}

// TestUpgradePrintsConfigWarnings: the outcome of an upgrade carries the
// warnings of the config as the new image read it; poolctl upgrade prints
// them on stderr, exit 0.
func TestUpgradePrintsConfigWarnings(t *testing.T) {
	t.Parallel()
	warning := `configs: /etc/poold.toml: environment variable POOLD_WATCHERS_GONE_NUMPROCESSES: no watcher "gone"`
	var asked bool
	f := startFake(t, func(req map[string]any) map[string]any {
		switch req["command"] {
		case "upgrade":
			asked = true
			return map[string]any{"status": "ok", "upgrade": map[string]any{"id": 1, "state": "upgrading"}}
		case "upgrade_status":
			if !asked {
				return map[string]any{"status": "ok", "upgrade": map[string]any{"id": 0, "state": "none"}}
			}
			return map[string]any{"status": "ok", "upgrade": map[string]any{"id": 1, "state": "upgraded",
				"old_version": "v1", "new_version": "v2", "pid": 42, "warnings": []string{warning}}}
		}
		return map[string]any{"status": "ok"}
	})
	r := poolctl(t, "--endpoint", f.endpoint, "upgrade")
	if r.code != 0 || r.stdout != "upgraded: poold v1 -> v2 (pid 42)\n" || r.stderr != "poolctl: warning: "+warning+"\n" {
		t.Errorf("want exit 0, the outcome and the warning on stderr, got %v", r)
	}
}
