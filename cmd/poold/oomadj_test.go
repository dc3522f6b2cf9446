package main

import (
	"regexp"
	"strings"
	"syscall"
	"testing"
)

const oomAdjConfig = `
[arbiter]
ENDPOINTS

[watchers.low]
cmd = "sleep"
args = ["1000"]
oom_score_adj = 0

[watchers.plain]
cmd = "sleep"
args = ["1000"]
`

// Under the memory limit of poold's cgroup (a container's), a watcher
// whose oom_score_adj is at or below poold's makes poold as likely an
// OOM victim as its workers: the trial's poold was OOM-killed with every
// worker while --check, the start and set said nothing, and the start
// line claimed workers at 500 above poold's (r62 M2). Now --check, the
// start and a set warn, naming the watcher, and the start line names
// the watchers that keep an oom_score_adj of their own.
func TestOOMScoreAdjAtPooldsIsWarned(t *testing.T) {
	dir := memoryCgroup(t, 192<<20)
	enter := []string{"/bin/sh", "-c", `echo $$ > "$0/cgroup.procs" && exec "$@"`, dir}
	warning := `watchers\.%s\.oom_score_adj: 0 is (at or below|only \d+ above) poold's oom_score_adj -?\d+, so under the memory limit of poold's cgroup ` +
		regexp.QuoteMeta(dir) + `.*remove oom_score_adj from the watcher`
	named := func(name string) string { return strings.Replace(warning, "%s", name, 1) }

	check := startPooldUnder(t, enter, t.TempDir(), oomAdjConfig, nil, "--check")
	if code := check.wait(); code != 0 {
		t.Fatalf("poold --check exited %d: %s", code, check.log.String())
	}
	if out := check.log.String(); !regexp.MustCompile(`warning: `+named("low")).MatchString(out) || strings.Contains(out, "watchers.plain.oom_score_adj") {
		t.Errorf("poold --check printed %q, want a warning of watchers.low.oom_score_adj alone", out)
	}

	p := startPooldUnder(t, enter, t.TempDir(), oomAdjConfig, nil)
	p.waitLog(`\[WARN\].*`+named("low"), 1)
	p.waitLog(`\[INFO\].*under a memory limit: workers start with an oom_score_adj 500 above poold's.*`+
		`except those of the watchers with an oom_score_adj of their own.*watchers_own_oom_score_adj=low=0`, 1)
	c := dialControl(t, p)
	if r := call(t, c, "set", map[string]any{"name": "plain", "options": map[string]any{"oom_score_adj": 0.0}}); r["status"] != "ok" {
		t.Fatalf("set plain oom_score_adj 0: %v", r)
	}
	p.waitLog(`\[WARN\].*`+named("plain"), 1)
	if n := len(regexp.MustCompile(named("low")).FindAllString(p.log.String(), -1)); n != 1 {
		t.Errorf("%d warnings of watchers.low, want 1: the set of another watcher repeated it", n)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(); code != 0 {
		t.Fatalf("poold exited %d after SIGTERM, want 0", code)
	}
}
