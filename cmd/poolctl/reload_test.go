package main

import (
	"strings"
	"testing"
	"time"
)

// reloadFake answers reload and reloadconfig with rep, and every other
// command (the progress printer's globaloptions) with a bare ok.
func reloadFake(t *testing.T, rep map[string]any) *fakePoold {
	t.Helper()
	return startFake(t, func(req map[string]any) map[string]any {
		switch req["command"] {
		case "reload", "reloadconfig":
			out := map[string]any{}
			for k, v := range rep {
				out[k] = v
			}
			return out
		}
		return map[string]any{"status": "ok"}
	})
}

func TestWaitedReloadFailure(t *testing.T) {
	t.Parallel()
	f := reloadFake(t, map[string]any{
		"status": "error", "errno": 6,
		"reason":  "reloadconfig: watcher \"api\" rolled back",
		"updated": []string{"web"}, "unchanged": []string{"cron"}, "added": []string{}, "removed": []string{},
		"rolled_back": map[string]string{"api": "new worker pid 123 (wid 2) exited with status 1 before it was ready"},
	})
	r := poolctl(t, "--endpoint", f.endpoint, "--pubsub-endpoint", missingEndpoint(t), "reloadconfig")
	if r.code != exitReplyError {
		t.Fatalf("a failed waited reloadconfig must exit 1: %v", r)
	}
	want := lines("api: rolled back: new worker pid 123 (wid 2) exited with status 1 before it was ready",
		"cron: unchanged", "web: updated")
	if r.stdout != want {
		t.Errorf("stdout %q, want %q", r.stdout, want)
	}
	if !strings.HasPrefix(r.stderr, "waiting for 'reloadconfig'...\n") ||
		!strings.HasSuffix(r.stderr, "poolctl: reloadconfig: watcher \"api\" rolled back\n") {
		t.Errorf("stderr should say what it waits for, then the reason: %q", r.stderr)
	}
	if reqs := f.requests(); reqs[len(reqs)-1]["properties"].(map[string]any)["waiting"] != true {
		t.Errorf("reloadconfig did not ask to wait: %v", reqs[len(reqs)-1])
	}
}

func TestWaitedReloadFailureCircusShape(t *testing.T) {
	t.Parallel()
	f := reloadFake(t, map[string]any{"status": "error", "errno": 6,
		"reason": `reload: reload of watcher "web" abandoned: new worker pid 77 (wid 3): not ready within 60s`})
	r := poolctl(t, "--endpoint", f.endpoint, "--pubsub-endpoint", missingEndpoint(t), "reload", "web")
	if r.code != exitReplyError || r.stdout != "" ||
		!strings.HasSuffix(r.stderr, "poolctl: reload: reload of watcher \"web\" abandoned: new worker pid 77 (wid 3): not ready within 60s\n") {
		t.Errorf("want exit 1 and the reason on stderr, got %v", r)
	}
}

func TestWaitedReloadSuccess(t *testing.T) {
	t.Parallel()
	f := reloadFake(t, map[string]any{"status": "ok", "updated": []string{"web"}, "unchanged": []string{"api"}})
	r := poolctl(t, "--endpoint", f.endpoint, "--pubsub-endpoint", missingEndpoint(t), "reloadconfig")
	if r.code != 0 || r.stdout != lines("api: unchanged", "web: updated") {
		t.Errorf("want exit 0 and the outcome per watcher, got %v", r)
	}
}

func TestNoWaitSendsAndReturns(t *testing.T) {
	t.Parallel()
	f := reloadFake(t, map[string]any{"status": "ok"})
	for _, args := range [][]string{{"reload", "web", "--no-wait"}, {"reloadconfig", "--no-wait"}} {
		r := poolctl(t, append([]string{"--endpoint", f.endpoint}, args...)...)
		if r.code != 0 || r.stdout != "ok\n" || r.stderr != "" {
			t.Errorf("%v: want ok and no progress, got %v", args, r)
		}
		reqs := f.requests()
		if props, _ := reqs[len(reqs)-1]["properties"].(map[string]any); props["waiting"] != nil {
			t.Errorf("%v sent waiting: %v", args, props)
		}
	}
}

func TestWaitedReloadTimeout(t *testing.T) {
	t.Parallel()
	f := startFake(t, nil)
	r := poolctl(t, "--endpoint", f.endpoint, "--pubsub-endpoint", missingEndpoint(t), "--timeout", "300ms", "reload", "web")
	want := "poolctl: timed out after 300ms waiting for 'reload web' (still in progress on poold)\n"
	if r.code != exitUnreachable || !strings.HasSuffix(r.stderr, want) {
		t.Errorf("want exit 3 and %q, got %v", want, r)
	}
	if r.took > 10*time.Second {
		t.Errorf("gave up after %v, want about 300ms", r.took)
	}
}

// TestWaitedReloadRestartNeeded: settings that keep their old value until
// poold restarts were only in --json; the human output read as a full
// success. They are listed with the outcome and warned of on stderr,
// exit 0 (the rest applied), with --json too.
func TestWaitedReloadRestartNeeded(t *testing.T) {
	t.Parallel()
	f := reloadFake(t, map[string]any{"status": "ok", "unchanged": []string{"web"},
		"restart_needed": []string{"arbiter.endpoint", "web.address"}})
	r := poolctl(t, "--endpoint", f.endpoint, "--pubsub-endpoint", missingEndpoint(t), "reloadconfig")
	want := lines("web: unchanged",
		"setting arbiter.endpoint: changed, not applied: needs a restart of poold",
		"setting web.address: changed, not applied: needs a restart of poold")
	// An upgrade keeps the endpoints but binds web.address as the file
	// says: the warning said it kept both.
	warn := "poolctl: warning: arbiter.endpoint changed in the config but keeps its old value until poold restarts (poolctl upgrade keeps it too); restart poold to apply it\n" +
		"poolctl: warning: web.address changed in the config but keeps its old value until poold restarts or is upgraded in place; run poolctl upgrade, or restart poold, to apply it\n"
	if r.code != 0 || r.stdout != want || !strings.HasSuffix(r.stderr, warn) {
		t.Errorf("want exit 0, %q and the warning %q, got %v", want, warn, r)
	}
	r = poolctl(t, "--endpoint", f.endpoint, "--pubsub-endpoint", missingEndpoint(t), "--json", "reloadconfig")
	if r.code != 0 || !strings.Contains(r.stdout, `"restart_needed"`) || !strings.HasSuffix(r.stderr, warn) {
		t.Errorf("--json: want exit 0, the raw reply and the warning, got %v", r)
	}
}

// TestWaitedReloadAppliedSettings: the [arbiter] settings a reload
// changed and applied at once (the reply's settings) were only in
// --json: a user who changed log_level saw every watcher unchanged and
// nothing of it.
func TestWaitedReloadAppliedSettings(t *testing.T) {
	t.Parallel()
	f := reloadFake(t, map[string]any{"status": "ok", "unchanged": []string{"web"},
		"settings": []string{"arbiter.log_level", "arbiter.stats_interval"}})
	r := poolctl(t, "--endpoint", f.endpoint, "--pubsub-endpoint", missingEndpoint(t), "reloadconfig")
	want := lines("web: unchanged",
		"setting arbiter.log_level: changed, applied",
		"setting arbiter.stats_interval: changed, applied")
	if r.code != 0 || r.stdout != want {
		t.Errorf("want exit 0 and %q, got %v", want, r)
	}
}
