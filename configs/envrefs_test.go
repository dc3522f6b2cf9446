package configs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestUnsetEnvRefWarns: a $(pool.env.KEY) with no value passed the load
// and --check silently, and the worker got it as written (r54b-zd
// finding 3). It still does, as Circus leaves an unknown $(circus.…),
// but the load warns, naming the watcher, the key and the reference.
func TestUnsetEnvRefWarns(t *testing.T) {
	t.Setenv("LISTEN_ENVREF", "1") // poold's own: a worker never gets it
	t.Setenv("ENVREF_SET", "1")
	for _, tc := range []struct {
		name, section string
		want          []string
	}{
		{"in env", `env = ["UNSET=$(pool.env.NOPE)x"]`,
			[]string{`poold.toml:3:8: watchers.w.env[0]: refers to $(pool.env.NOPE), which has no value: NOPE is not set in env, and without copy_env a worker inherits only PATH; the worker gets "$(pool.env.NOPE)" as written`}},
		{"in cmd", `cmd = "/bin/echo ((circus.env.NOPE))"`,
			[]string{`watchers.w.cmd: refers to ((circus.env.NOPE)), which has no value: NOPE is not set in env`}},
		{"in args", `args = ["$(pool.env.HOME)"]`,
			[]string{`watchers.w.args[0]: refers to $(pool.env.HOME), which has no value: HOME is not set in env, and without copy_env a worker inherits only PATH`}},
		{"a cycle with nothing inherited", `env = ["D=$(pool.env.E)ed", "E=$(pool.env.D)"]`,
			[]string{`watchers.w.env[1]: refers to $(pool.env.D), which has no value`}},
		{"copy_env without it", "copy_env = true\nenv = [\"A=$(pool.env.LISTEN_ENVREF)\"]",
			[]string{`watchers.w.env[0]: refers to $(pool.env.LISTEN_ENVREF), which has no value: LISTEN_ENVREF is not set in env, nor in poold's environment (copy_env)`}},
		{"copy_env with it", "copy_env = true\nenv = [\"A=$(pool.env.ENVREF_SET)\"]", nil},
		{"set", "env = [\"PATH=/opt/bin:$(pool.env.PATH)\", \"B=$(pool.env.A)\", \"A=a\"]\nargs = [\"$(pool.env.B)\", \"$(pool.env.PATH)\"]", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "poold.toml")
			section := tc.section
			if !strings.HasPrefix(section, "cmd") {
				section = "cmd = \"/bin/true\"\n" + section
			}
			if err := os.WriteFile(path, []byte("[watchers.w]\n"+section+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(cfg.Warnings) != len(tc.want) {
				t.Fatalf("warnings %q; want %d", cfg.Warnings, len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.Contains(cfg.Warnings[i], w) {
					t.Errorf("warning %q; want it to contain %q", cfg.Warnings[i], w)
				}
			}
		})
	}
}
