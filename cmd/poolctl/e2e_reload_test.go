package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/poold/poold/watcher/proctest"
)

// TestEndToEndReloadWaits runs reload and reloadconfig against a real
// poold: both wait for the outcome by default, --no-wait does not, and a
// config file poold rejects is a failure (exit 1, with the reason).
func TestEndToEndReloadWaits(t *testing.T) { reloadWaits(t, startPoold(t)) }

// TestEndToEndReloadWaitsHTTPS is the same over the HTTPS API.
func TestEndToEndReloadWaitsHTTPS(t *testing.T) { reloadWaits(t, startPooldAPI(t)) }

func reloadWaits(t *testing.T, p *poold) {
	old := p.waitPids(t, 2)

	r := p.ctl(t, "reload", "web")
	t.Logf("reload web: %v", r)
	if !strings.HasPrefix(r.stderr, "waiting for 'reload web'...\n") {
		t.Errorf("reload web should wait and say so: %q", r.stderr)
	}
	// Waited: by the answer the old workers are gone.
	for _, pid := range old {
		if proctest.Alive(pid) {
			t.Errorf("pid %d alive after a reload that waited", pid)
		}
	}
	if now := p.pids(t); len(now) != len(old) {
		t.Errorf("after reload: pids %v, before %v", now, old)
	}
	// --quiet: the outcome, no progress (r56b-bigops: 8,041 lines for
	// a reload of 2,000 workers).
	old = p.pids(t)
	if r := p.ctl(t, "reload", "web", "--quiet"); !strings.HasPrefix(r.stdout, "started:") || r.stderr != "" {
		t.Errorf("reload --quiet: %v", r)
	}
	for _, pid := range old {
		if proctest.Alive(pid) {
			t.Errorf("pid %d alive after a reload --quiet, which waits too", pid)
		}
	}
	if r := p.ctl(t, "reload", "web", "--no-wait"); r.stdout != "ok\n" || r.stderr != "" {
		t.Errorf("reload --no-wait: %v", r)
	}

	path := filepath.Join(p.dir, "poold.toml")
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	bad := append(append([]byte(nil), good...), "numprocesses = -2\n"...) // lands in [watchers.web]
	if err := os.WriteFile(path, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	r = poolctl(t, append(p.conn(), "reloadconfig")...)
	if r.code != exitReplyError || !strings.Contains(r.stderr, "poolctl: reloadconfig: ") ||
		!strings.Contains(r.stderr, "numprocesses") || !strings.Contains(r.stderr, "nothing was changed") {
		t.Errorf("reloadconfig of a bad file: want exit 1 and the reason, got %v", r)
	}
	if err := os.WriteFile(path, good, 0o600); err != nil {
		t.Fatal(err)
	}
	r = p.ctl(t, "reloadconfig")
	if !strings.HasPrefix(r.stderr, "waiting for 'reloadconfig'...\n") {
		t.Errorf("reloadconfig should wait and say so: %q", r.stderr)
	}
	// A waited reload answers once the new workers are ready; the old
	// ones may still drain, which status NAME lists under its status.
	if r := p.ctl(t, "status", "web"); r.stdout != "active\n" && !regexp.MustCompile(`^active\nstopping: \d+ workers? still draining: `).MatchString(r.stdout) {
		t.Errorf("status web after reloadconfig: %q", r.stdout)
	}
}

// TestEndToEndReloadconfigRestartNeeded: a changed endpoint keeps its old
// value until poold restarts; reloadconfig said only "web: unchanged",
// exit 0, as if it had applied. It now names the setting on stdout and
// warns on stderr.
func TestEndToEndReloadconfigRestartNeeded(t *testing.T) {
	t.Parallel()
	p := startPoold(t)
	path := filepath.Join(p.dir, "poold.toml")
	conf, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(p.dir, "s.sock")
	moved := strings.Replace(string(conf), old, filepath.Join(p.dir, "s2.sock"), 1)
	if moved == string(conf) {
		t.Fatalf("no stats endpoint %s in the config:\n%s", old, conf)
	}
	if err := os.WriteFile(path, []byte(moved), 0o600); err != nil {
		t.Fatal(err)
	}
	r := p.ctl(t, "reloadconfig")
	if !strings.Contains(r.stdout, "web: unchanged\n") ||
		!strings.Contains(r.stdout, "setting arbiter.stats_endpoint: changed, not applied: needs a restart of poold\n") ||
		!strings.Contains(r.stderr, "poolctl: warning: arbiter.stats_endpoint changed in the config but keeps its old value until poold restarts") {
		t.Errorf("reloadconfig of a new stats endpoint: %v", r)
	}
}
