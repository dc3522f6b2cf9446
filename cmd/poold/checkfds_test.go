package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/poold/poold/arbiter"
)

// TestCheckSaysWhenFdsFallShort: a config whose workers need more fds in
// poold than its RLIMIT_NOFILE passed --check as "ok"; poold then started
// what fit and the rest flapped (r56b-bigops M3: 600 workers under
// `ulimit -n 1024`). --check now says so, with the figure to set, and
// still exits 0 (poold would start, and serve what fits).
func TestCheckSaysWhenFdsFallShort(t *testing.T) {
	limit, ok := arbiter.NofileLimit()
	if !ok {
		t.Fatal("no RLIMIT_NOFILE")
	}
	n := int(limit/2) + 1 // 2 output pipes each: over the limit
	dir := t.TempDir()
	path := writeConfig(t, dir, fmt.Sprintf(`
[arbiter]
max_processes = %[2]d
[watchers.big]
cmd = "sleep 1"
numprocesses = %[1]d
max_processes = %[1]d
[watchers.off]
cmd = "sleep 1"
numprocesses = %[1]d
max_processes = %[1]d
autostart = false
`, n, 2*n))
	var out, errb bytes.Buffer
	if code := exitCode(run(context.Background(), []string{"--check", path}, &out, &errb), &errb); code != 0 {
		t.Fatalf("--check: exit %d, want 0; stdout %q stderr %q", code, out.String(), errb.String())
	}
	need := 2*n + 100
	for _, want := range []string{
		path + ": warning: RLIMIT_NOFILE " + fmt.Sprint(limit) + " is lower than the " + fmt.Sprint(need) + " fds that " + fmt.Sprint(n) + " workers need",
		`the most for watcher "big"`,
		"raise it to " + fmt.Sprint(need+2*n) + " or more (ulimit -n, systemd LimitNOFILE=",
		path + ": ok (0 sockets, 2 watchers)",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--check output lacks %q:\n%s", want, out.String())
		}
	}

	// Half of them fit, but not with a reload's max_surge of 100 %.
	path = writeConfig(t, dir, fmt.Sprintf(`
[arbiter]
max_processes = %[1]d
[watchers.big]
cmd = "sleep 1"
numprocesses = %[1]d
max_processes = %[1]d
`, n/2))
	out.Reset()
	if code := exitCode(run(context.Background(), []string{"--check", path}, &out, &errb), &errb); code != 0 {
		t.Fatalf("--check: exit %d, want 0; stdout %q stderr %q", code, out.String(), errb.String())
	}
	if want := "but not the " + fmt.Sprint(2*2*(n/2)+100) + " that a reload of every watcher with its max_surge"; !strings.Contains(out.String(), want) {
		t.Errorf("--check output lacks %q:\n%s", want, out.String())
	}
}
