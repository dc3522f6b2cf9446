package launch

import (
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/poold/poold/configs"
)

// An env entry that refers to its own key extends the inherited value, as
// PATH=/opt/bin:$PATH does in a shell: the worker's program is then found
// in both directories, and the worker sees the whole PATH.
func TestEnvEntryExtendsItsInheritedValue(t *testing.T) {
	t.Setenv("PATH", "/usr/bin:/bin")
	extra := openDir(t)
	for _, copyEnv := range []bool{false, true} {
		spec := configs.Watcher{
			Name: "web", Cmd: "env", CopyEnv: copyEnv,
			Env: []string{
				"PATH=" + extra + ":$(pool.env.PATH)",
				"BEFORE=$(pool.env.AFTER)-$(pool.env.PATH)", // a later entry, expanded
				"AFTER=w$(pool.wid)",
				"A=$(pool.env.B)", "B=$(pool.env.A)", // a loop: left as written
			},
		}
		c, err := Build(spec, Handoff{}, 2, nil)
		if err != nil {
			t.Fatalf("copy_env %v: Build: %v", copyEnv, err)
		}
		cmd := exec.Command(c.Path, c.Argv[1:]...)
		cmd.Env = c.Env
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("copy_env %v: run %s: %v", copyEnv, c.Path, err)
		}
		got := strings.Split(strings.TrimSpace(string(out)), "\n")
		path := extra + ":/usr/bin:/bin"
		for _, w := range []string{
			"PATH=" + path, "BEFORE=w2-" + path, "AFTER=w2",
			"A=$(pool.env.A)", "B=$(pool.env.A)",
		} {
			if !slices.Contains(got, w) {
				t.Errorf("copy_env %v: the worker's environment lacks %q:\n%s", copyEnv, w, out)
			}
		}
		if v := Vars(spec, Handoff{}, 2, "")["env.PATH"]; v != path {
			t.Errorf("copy_env %v: $(pool.env.PATH) in cmd and args = %q, want %q", copyEnv, v, path)
		}
	}
}
