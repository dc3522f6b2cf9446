package configs

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// [web] token in a config file other users may read hands them the
// console (an operator's, unless read_only): Load warns, naming the key,
// the mode and the fix, as it refuses a token file of that mode. A 0600
// file, or a config without a token, is not warned about.
func TestTokenInReadableConfigWarns(t *testing.T) {
	for _, tc := range []struct {
		name string
		mode os.FileMode
		conf string
		warn bool
	}{
		{"world-readable", 0o644, "[web]\nenabled = true\ntoken = \"0123456789abcdef0123\"\n", true},
		{"group-readable", 0o640, "[web]\nenabled = true\ntoken = \"0123456789abcdef0123\"\n", true},
		{"owner only", 0o600, "[web]\nenabled = true\ntoken = \"0123456789abcdef0123\"\n", false},
		{"no token", 0o644, "[web]\nenabled = true\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "poold.toml")
			if err := os.WriteFile(path, []byte(tc.conf), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tc.mode); err != nil {
				t.Fatal(err)
			}
			cfg, err := Load(path)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			got := strings.Join(cfg.Warnings, "\n")
			said := strings.Contains(got, "web.token")
			if said != tc.warn {
				t.Fatalf("mode %04o: warnings %q; want a web.token warning: %v", tc.mode, got, tc.warn)
			}
			if tc.warn && (!strings.Contains(got, "chmod 600 "+path) || !strings.Contains(got, fmt.Sprintf("mode %04o", tc.mode))) {
				t.Errorf("warning %q does not say the mode and the fix", got)
			}
		})
	}
}

// A watcher's env (its secrets) in a config file other users may read:
// Load (so start, reload and --check) warns once, naming the file, its
// mode, the watchers, what looks like a secret and the fix. A 0600 file,
// no env, or an env with nothing that looks like a secret (the shipped
// example's GREETING, a checkout being 0644) is not warned about.
func TestEnvInReadableConfigWarns(t *testing.T) {
	withEnv := "[watchers.t01]\ncmd = \"/bin/true\"\nenv = [\"SECRET=one\"]\n" +
		"[watchers.t02]\ncmd = \"/bin/true\"\nenv = [\"DB_URL=postgres://u:pw@db/x\"]\n" +
		"[watchers.plain]\ncmd = \"/bin/true\"\n"
	for _, tc := range []struct {
		name string
		mode os.FileMode
		conf string
		warn bool
	}{
		{"world-readable", 0o644, withEnv, true},
		{"group-readable", 0o640, withEnv, true},
		{"owner only", 0o600, withEnv, false},
		{"no env", 0o644, "[watchers.plain]\ncmd = \"/bin/true\"\n", false},
		{"passphrase, a key, a password-only URL", 0o644, "[watchers.t01]\ncmd = \"/bin/true\"\nenv = [\"GPG_PASSPHRASE=x\"]\n" +
			"[watchers.t02]\ncmd = \"/bin/true\"\nenv = [\"STRIPE_KEY=sk\", \"CACHE=redis://:pw@cache/0\"]\n", true},
		{"no secret in env", 0o644, "[watchers.plain]\ncmd = \"/bin/true\"\nenv = [\"GREETING=hi\", \"HOME_URL=https://example.com/x\"]\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "poold.toml")
			if err := os.WriteFile(path, []byte(tc.conf), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tc.mode); err != nil {
				t.Fatal(err)
			}
			cfg, err := Load(path)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			var lines []string
			for _, w := range cfg.Warnings {
				if strings.Contains(w, ".env") {
					lines = append(lines, w)
				}
			}
			if (len(lines) > 0) != tc.warn || len(lines) > 1 {
				t.Fatalf("mode %04o: warnings %q; want one env warning: %v", tc.mode, cfg.Warnings, tc.warn)
			}
			keys := "DB_URL, SECRET"
			if tc.conf != withEnv {
				keys = "CACHE, GPG_PASSPHRASE, STRIPE_KEY"
			}
			want := fmt.Sprintf("watchers.t01.env: the env of 2 watcher(s) (t01, t02) has what looks like secrets (%s) in this file, which other users can read (mode %04o): chmod 600 %s", keys, tc.mode, path)
			if tc.warn && !strings.Contains(lines[0], want) {
				t.Errorf("warning %q, want it to say %q", lines[0], want)
			}
		})
	}
}
