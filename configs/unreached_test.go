package configs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestUnreachedSocketWarns (r64 newcomer F1): a socket no watcher
// inherits (the gunicorn --bind habit, sockets = [...] left out) loaded
// with no warning, and its clients hung. It is a warning now, naming the
// key, the address and what to do; a socket a watcher reaches by
// sockets, $(pool.sockets.NAME), $(circus.sockets.NAME) in env or
// use_sockets, or an elastic pool's, is not warned of, nor one in a file
// of sockets alone (watchers to come with poolctl add).
func TestUnreachedSocketWarns(t *testing.T) {
	for _, tc := range []struct {
		name, conf, want string
	}{
		{"unused", "[sockets.flask]\nport = 41881\n[watchers.flask]\ncmd = \"sleep 100\"\n",
			`sockets.flask: no watcher uses it (none lists it in sockets, refers to $(pool.sockets.flask) in cmd, args or env, or sets use_sockets): poold binds 127.0.0.1:41881 all the same`},
		{"unix", "[sockets.u]\npath = \"/tmp/idlesock-u.sock\"\n[sockets.t]\nport = 0\n[watchers.w]\ncmd = \"sleep 100\"\nsockets = [\"t\"]\n",
			`poold binds /tmp/idlesock-u.sock all the same`},
		{"listed", "[sockets.s]\nport = 0\n[watchers.w]\ncmd = \"sleep 100\"\nsockets = [\"S\"]\n", ""},
		{"arg ref", "[sockets.s]\nport = 0\n[watchers.w]\ncmd = \"uvicorn --fd $(pool.sockets.s) app:app\"\n", ""},
		{"env ref", "[sockets.s]\nport = 0\n[watchers.w]\ncmd = \"sleep 100\"\nenv = [\"FD=((circus.sockets.s))\"]\n", ""},
		{"use_sockets", "[sockets.s]\nport = 0\n[sockets.t]\nport = 0\n[watchers.w]\ncmd = \"sleep 100\"\nuse_sockets = true\n", ""},
		{"elastic", "[sockets.s]\nport = 0\n[watchers.w]\ncmd = \"sleep 100\"\nsockets = [\"s\"]\non_demand = true\nnumprocesses = 0\nmax_workers = 4\n", ""},
		{"sockets alone", "[sockets.s]\nport = 0\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "poold.toml")
			if err := os.WriteFile(path, []byte(tc.conf), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Join(cfg.Warnings, "\n")
			if tc.want == "" {
				if got != "" {
					t.Errorf("warnings %q, want none", got)
				}
				return
			}
			if len(cfg.Warnings) != 1 || !strings.Contains(got, tc.want) || !strings.Contains(got, `add sockets = [`) || !strings.Contains(got, "or remove the socket") {
				t.Errorf("warnings %q, want one containing %q and what to do", got, tc.want)
			}
		})
	}
	if cfg, err := Load("gunicorn.toml"); err != nil || len(cfg.Warnings) > 0 {
		t.Errorf("gunicorn.toml: %v, warnings %q", err, cfg.Warnings)
	}
}
