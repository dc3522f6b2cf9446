package main

import (
	"strconv"
	"strings"
	"testing"

	"github.com/poold/poold/watcher/proctest"
)

// TestCircusctlSignalZero: circusctl signal NAME [PID] 0 is kill(2) with
// no signal, a check that the workers exist; circusd answers ok, poold
// answered "unknown signal number 0". kill with 0 stays refused: it
// would stop nothing.
func TestCircusctlSignalZero(t *testing.T) {
	circusPeer(t)
	p := startPoold(t, "\n[arbiter]\nENDPOINTS\n[watchers.w]\ncmd = \"/bin/sleep\"\nargs = [\"3600\"]\nnumprocesses = 2\n")
	c := dialControl(t, p)
	proctest.Eventually(t, "2 workers", func() bool { return goCount(t, c) == 2 })
	pids := goPids(t, c, "w")
	pid := strconv.Itoa(pids[0])
	steps := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"signal", "w", "0"}, 0, "ok"},
		{[]string{"signal", "w", pid, "0"}, 0, "ok"},
		{[]string{"signal", "w", "0", "--recursive"}, 0, "ok"},
		{[]string{"kill", "w", "--signum", "0"}, 3, "error: kill: signal 0 is out of range"},
		{[]string{"list", "w"}, 0, strconv.Itoa(pids[0])},
	}
	lines := make([][]string, len(steps))
	for i, s := range steps {
		lines[i] = s.args
	}
	for i, r := range circusctlBatch(t, ctlEndpoint(p), lines) {
		s := steps[i]
		if r.code != s.code || !strings.Contains(r.out, s.want) {
			t.Errorf("circusctl %s: exit %d, output:\n%s\nwant exit %d and output containing %q", strings.Join(s.args, " "), r.code, r.out, s.code, s.want)
		}
	}
}
