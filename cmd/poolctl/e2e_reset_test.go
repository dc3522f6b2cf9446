package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/watcher/proctest"
)

// TestEndToEndResetGoesBackToTheFile: a `poolctl set web numprocesses 3`
// (or max_cpu, args) of hours ago survives every reload of a file that
// leaves the key alone, and the only way back was to set each key to the
// file's value by hand (r58 M-A). reset NAME [KEY...] gives the keys the
// file's values again, as a reload would: the named ones first, then all,
// rolling the workers over for args and scaling for numprocesses; its
// reply says what it changed, from and to. A read-only caller may not reset; a key with no
// override, an unknown key and an unknown watcher are refused, each with
// its errno, and change nothing.
func TestEndToEndResetGoesBackToTheFile(t *testing.T) {
	t.Parallel()
	p := startPooldWith(t, pooldConf{arbiter: `control_read_only = ["user:nobody"]`})
	p.waitPids(t, 2)
	p.ctl(t, "--waiting", "set", "web", "max_cpu", "40", "numprocesses", "3", "args", `["3601"]`)
	p.waitPids(t, 3)

	if r := asUser(t, p, "65534", "65534", "", "reset", "web"); r.code != 1 || !strings.Contains(r.stderr, `permission denied: "reset" needs an operator`) {
		t.Errorf("nobody (control_read_only), reset web: want exit 1, permission denied, got %v", r)
	}
	for _, c := range []struct {
		args  []string
		errno float64
		words string
	}{
		{[]string{"reset", "web", "bogus"}, 3, `reset: watcher "web" has no option "bogus" (nothing was changed); options are: `},
		{[]string{"reset", "web", "graceful_timeout"}, 5, `reset: watcher "web": graceful_timeout runs as the config file gives it, nothing to reset (nothing was changed); set at run time: args, max_cpu, numprocesses`},
		{[]string{"reset", "nope"}, 3, `program nope not found`},
	} {
		r := poolctl(t, append(append(p.conn(), "--json"), c.args...)...)
		var rep map[string]any
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != 1 || rep["errno"] != c.errno || !strings.Contains(rep["reason"].(string), c.words) {
			t.Errorf("poolctl --json %s: %v; want exit 1, errno %v, a reason with %q", strings.Join(c.args, " "), r, c.errno, c.words)
		}
	}
	if out := p.ctl(t, "status", "web").stdout; strings.Count(out, "set at run time: ") != 3 {
		t.Fatalf("status web after the refused resets:\n%s\nwant the 3 keys still set at run time", out)
	}

	// One key: only it goes back.
	if out := p.ctl(t, "--waiting", "reset", "web", "max_cpu").stdout; out != "max_cpu: 40 -> 0\n" {
		t.Errorf("reset web max_cpu: stdout %q, want %q", out, "max_cpu: 40 -> 0\n")
	}
	out := p.ctl(t, "status", "web").stdout
	if strings.Contains(out, "max_cpu") || !strings.Contains(out, "set at run time: numprocesses = 3 (file: 2)") {
		t.Errorf("status web after reset web max_cpu:\n%s\nwant numprocesses still set at run time, max_cpu not", out)
	}

	// The rest: back to 2 workers, and new ones running the file's args.
	before := p.pids(t)
	want := "args: [\"3601\"] -> [\"3600\"]\nnumprocesses: 3 -> 2\n"
	if out := p.ctl(t, "--waiting", "reset", "web").stdout; out != want {
		t.Errorf("reset web: stdout %q, want %q", out, want)
	}
	after := p.waitPids(t, 2)
	for _, pid := range after {
		if slices.Contains(before, pid) {
			t.Errorf("reset web of args: worker %d (of %v) still runs; want new workers (%v)", pid, before, after)
		}
	}
	if out := p.ctl(t, "get", "web", "args", "numprocesses", "max_cpu").stdout; !strings.Contains(out, "3600") || strings.Contains(out, "3601") {
		t.Errorf("get web after reset web:\n%s\nwant the file's args", out)
	}
	if out := p.ctl(t, "status", "web").stdout; strings.Contains(out, "set at run time") {
		t.Errorf("status web after reset web:\n%s\nwant no key set at run time", out)
	}
	if out := p.ctl(t, "reset", "web").stdout; out != "nothing to reset: web runs as the config file gives it\n" {
		t.Errorf("reset web again: stdout %q, want that nothing runs otherwise than the file", out)
	}
	if !proctest.Poll(5*time.Second, func() bool {
		return strings.Contains(p.log(), "watcher reset to the config file") && strings.Contains(p.log(), "max_cpu=40->0")
	}) {
		t.Errorf("poold's log does not say what reset changed:\n%s", p.log())
	}
}
