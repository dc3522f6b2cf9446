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
	if _, err := EnsureRuntimeDir(fresh); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(fresh)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o700 {
		t.Errorf("created with mode %o, want 700", perm)
	}
	if was, err := EnsureRuntimeDir(fresh); err != nil || was != "" {
		t.Errorf("existing good dir: %q, %v", was, err)
	}

	file := filepath.Join(base, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := EnsureRuntimeDir(file); err == nil {
		t.Errorf("a regular file was accepted")
	}

	link := filepath.Join(base, "link")
	if err := os.Symlink(fresh, link); err != nil {
		t.Fatal(err)
	}
	if _, err := EnsureRuntimeDir(link); err == nil || !strings.Contains(err.Error(), "not a directory") {
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
		if _, err := EnsureRuntimeDir(other); err == nil || !strings.Contains(err.Error(), "owned by uid 65534") {
			t.Errorf("a dir owned by someone else: %v", err)
		}
		// Squatted (r56b nonroot, finding 6): in a sticky /tmp, poold's
		// user may neither remove another's directory nor become its
		// owner, so the remedy must be one it can follow.
		_, err := EnsureRuntimeDir(other)
		for _, want := range []string{"set XDG_RUNTIME_DIR to a writable directory only poold's user may write", "an emptyDir at /run", "arbiter.endpoint, pubsub_endpoint and stats_endpoint"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("a dir owned by someone else: %v, want a remedy poold's user can follow: %q", err, want)
			}
		}
	}
}

// A runtime directory of poold's own that is open to others is made 0700
// and said so, its mode printed with the sticky and setgid bits: a
// Kubernetes emptyDir mounted at /run/poold is 0777 (1777 in memory,
// 2777 with an fsGroup), and poold refused it, so the shipped example
// crash-looped (r66 pid1 H1).
func TestEnsureRuntimeDirTightensOwnOpenDir(t *testing.T) {
	for _, mode := range []os.FileMode{0o755, 0o777, 0o777 | os.ModeSticky, 0o777 | os.ModeSetgid, 0o770 | os.ModeSetgid} {
		dir := filepath.Join(t.TempDir(), "poold")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, mode); err != nil {
			t.Fatal(err)
		}
		want := ModeString(mode)
		was, err := EnsureRuntimeDir(dir)
		if err != nil || was != want {
			t.Errorf("mode %s: tightened %q, %v; want %q, no error", want, was, err, want)
			continue
		}
		fi, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if got := ModeString(fi.Mode()); got != "0700" {
			t.Errorf("mode %s: left %s, want 0700", want, got)
		}
	}
	if got := ModeString(0o777 | os.ModeSticky); got != "1777" {
		t.Errorf("ModeString(sticky 0777) = %s, want 1777", got)
	}
}

// What another user put in poold's open runtime directory stays theirs
// after a chmod: poold refuses the directory rather than serve beside it.
func TestEnsureRuntimeDirRefusesForeignEntry(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to make an entry of another user's") // not a missing dependency: nonroot runs test the rest
	}
	dir := filepath.Join(t.TempDir(), "poold")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	planted := filepath.Join(dir, "control.sock")
	if err := os.Symlink("/elsewhere/control.sock", planted); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(planted, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	_, err := EnsureRuntimeDir(dir)
	for _, want := range []string{"mode 1777", planted, "owned by uid 65534", "XDG_RUNTIME_DIR"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("planted entry: %v, want %q", err, want)
		}
	}
	// The refusal left the directory 0700: the next start refuses it too
	// (it started with the planted entry inside: r66 review2 F3).
	_, err = EnsureRuntimeDir(dir)
	for _, want := range []string{planted, "owned by uid 65534", "XDG_RUNTIME_DIR"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("planted entry, second start: %v, want %q", err, want)
		}
	}
}

// --check changes nothing and passes a directory poold could make or use.
func TestCheckRuntimeDir(t *testing.T) {
	base := t.TempDir()
	if err := CheckRuntimeDir(filepath.Join(base, "a", "poold")); err != nil {
		t.Errorf("a dir poold would make: %v", err)
	}
	if _, err := os.Stat(filepath.Join(base, "a")); err == nil {
		t.Errorf("CheckRuntimeDir made a directory")
	}
	file := filepath.Join(base, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := CheckRuntimeDir(filepath.Join(file, "poold")); err == nil || !strings.Contains(err.Error(), "is not a directory") {
		t.Errorf("under a file: %v", err)
	}
}
