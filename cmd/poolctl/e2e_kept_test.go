package main

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/watcher/proctest"
)

// TestEndToEndStatusShowsKeysKeptFromRunTime: `poolctl set web max_cpu
// 40`, then a SIGHUP of a file that does not mention max_cpu. poold
// keeps the 40 (run-time changes of keys the file left alone survive a
// reload), and nothing told the on-call who put the old file back
// (r57 trial M4). The reload now logs the key it kept, and status web
// shows it beside the file's value and the set that gave it; so does
// reloadconfig's answer.
func TestEndToEndStatusShowsKeysKeptFromRunTime(t *testing.T) {
	t.Parallel()
	p := startPoold(t)
	p.waitPids(t, 2)
	p.ctl(t, "set", "web", "max_cpu", "40")
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if !proctest.Poll(20*time.Second, func() bool { return strings.Contains(p.log(), "config reloaded") }) {
		t.Fatalf("no reload logged after SIGHUP; log:\n%s", p.log())
	}
	if !strings.Contains(p.log(), `kept from run time, not in the file`) || !strings.Contains(p.log(), "web.max_cpu=40") {
		t.Errorf("the reload's log does not list web.max_cpu=40 as kept from run time:\n%s", p.log())
	}
	out := p.ctl(t, "status", "web").stdout
	if !strings.HasPrefix(out, "active\n") || !strings.Contains(out, "\nset at run time: max_cpu = 40 (file: 0), by set from ") {
		t.Errorf("status web after the reload:\n%s\nwant the status word, then a line naming max_cpu = 40 (file: 0) and the set", out)
	}
	// reloadconfig, which answers, says it with web's fate.
	want := "web: unchanged; kept from run time, not in the file: max_cpu=40 (poolctl status web)\n"
	if r := p.ctl(t, "reloadconfig", "--quiet"); !strings.Contains(r.stdout, want) {
		t.Errorf("reloadconfig: %v, want stdout with %q", r, want)
	}
}
