package configs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRuntimeDir(t *testing.T) {
	t.Setenv("XDG_RUNTIME_DIR", "/run/user/1234")
	if got := RuntimeDir(); got != "/run/user/1234/poold" {
		t.Errorf("RuntimeDir = %q", got)
	}
	if got := DefaultEndpoint(); got != "ipc:///run/user/1234/poold/control.sock" {
		t.Errorf("DefaultEndpoint = %q", got)
	}
	if got := DefaultPubSubEndpoint(); got != "ipc:///run/user/1234/poold/events.sock" {
		t.Errorf("DefaultPubSubEndpoint = %q", got)
	}
	if got := DefaultStatsEndpoint(); got != "ipc:///run/user/1234/poold/stats.sock" {
		t.Errorf("DefaultStatsEndpoint = %q", got)
	}
	t.Setenv("XDG_RUNTIME_DIR", "")
	want := "/run/poold"
	if os.Geteuid() != 0 {
		want = filepath.Join(os.TempDir(), "poold-") // + uid
	}
	if got := RuntimeDir(); !strings.HasPrefix(got, want) {
		t.Errorf("RuntimeDir without XDG_RUNTIME_DIR = %q, want prefix %q", got, want)
	}
}

func TestLoadFillsDefaultEndpoints(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", dir)
	path := filepath.Join(dir, "p.toml")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Arbiter.Endpoint != "ipc://"+dir+"/poold/control.sock" || cfg.Arbiter.StatsEndpoint != DefaultStatsEndpoint() {
		t.Errorf("arbiter = %+v", cfg.Arbiter)
	}
	if len(cfg.Watchers) != 0 || len(cfg.Sockets) != 0 || cfg.Web.Enabled {
		t.Errorf("empty file gave %+v", cfg)
	}
}

func TestEnsureRuntimeDir(t *testing.T) {
	base := t.TempDir()

	fresh := filepath.Join(base, "a", "poold")
	if err := EnsureRuntimeDir(fresh); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(fresh)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o700 {
		t.Errorf("created with mode %o, want 700", perm)
	}
	if err := EnsureRuntimeDir(fresh); err != nil {
		t.Errorf("existing good dir: %v", err)
	}

	open := filepath.Join(base, "open")
	if err := os.Mkdir(open, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := EnsureRuntimeDir(open); err == nil || !strings.Contains(err.Error(), "chmod 700 "+open) {
		t.Errorf("group/other readable dir: %v, want advice to chmod 700", err)
	}

	file := filepath.Join(base, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := EnsureRuntimeDir(file); err == nil {
		t.Errorf("a regular file was accepted")
	}

	link := filepath.Join(base, "link")
	if err := os.Symlink(fresh, link); err != nil {
		t.Fatal(err)
	}
	if err := EnsureRuntimeDir(link); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("a symlink was accepted: %v", err)
	}

	if os.Geteuid() == 0 {
		other := filepath.Join(base, "other")
		if err := os.Mkdir(other, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(other, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		if err := EnsureRuntimeDir(other); err == nil || !strings.Contains(err.Error(), "owned by uid 65534") {
			t.Errorf("a dir owned by someone else: %v", err)
		}
		// Squatted (r56b nonroot, finding 6): in a sticky /tmp, poold's
		// user may neither remove another's directory nor become its
		// owner, so the remedy must be one it can follow.
		err := EnsureRuntimeDir(other)
		for _, want := range []string{"set XDG_RUNTIME_DIR to a directory only poold's user may write", "arbiter.endpoint, pubsub_endpoint and stats_endpoint"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("a dir owned by someone else: %v, want a remedy poold's user can follow: %q", err, want)
			}
		}
	}
}
