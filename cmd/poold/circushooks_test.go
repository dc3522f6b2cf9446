package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/poold/poold/watcher/proctest"
)

// TestCircusctlSetHook: circusctl set NAME hooks.after_spawn VALUE, as
// circusd takes it, sets that one hook (the watcher's others kept): a
// program path runs as a command hook; a Python callable and Circus's
// ignore_failure are refused saying what to write. poold refused every
// hooks.NAME as an unknown option.
func TestCircusctlSetHook(t *testing.T) {
	circusPeer(t)
	p := startPoold(t, "\n[arbiter]\nENDPOINTS\n[watchers.w]\ncmd = \"/bin/sleep\"\nargs = [\"3600\"]\nhooks = { before_start = \"/bin/true\" }\n")
	c := dialControl(t, p)
	proctest.Eventually(t, "1 worker", func() bool { return goCount(t, c) == 1 })
	hook := filepath.Join(p.dir, "hook.sh")
	log := filepath.Join(p.dir, "hooks.log")
	if err := os.WriteFile(hook, []byte("#!/bin/sh\necho \"$POOLD_HOOK $POOLD_WID\" >> "+log+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"set", "w", "hooks.after_spawn", hook + " spawned"}, 0, "ok"},
		{[]string{"get", "w", "hooks"}, 0, "hooks: {'after_spawn': '" + hook + " spawned', 'before_start': '/bin/true'}"},
		{[]string{"incr", "w", "--waiting"}, 0, "2"},
		{[]string{"set", "w", "hooks.before_start", "myapp.hooks.check_db"}, 3,
			`error: set: watcher "w": hooks.before_start: myapp.hooks.check_db is a Python callable, which poold cannot run`},
		{[]string{"set", "w", "hooks.before_stop", "/bin/true, true"}, 3,
			`error: set: watcher "w": hooks.before_stop: ignore_failure ("true" after the comma) has no poold equivalent`},
		{[]string{"set", "w", "hooks.before_start", ""}, 0, "ok"},
		{[]string{"get", "w", "hooks"}, 0, "hooks: {'after_spawn': '" + hook + " spawned'}"},
	}
	lines := make([][]string, len(steps))
	for i, s := range steps {
		lines[i] = s.args
	}
	for i, r := range circusctlBatch(t, ctlEndpoint(p), lines) {
		s := steps[i]
		if r.code != s.code || !strings.HasPrefix(r.out, s.want) {
			t.Errorf("circusctl %s: exit %d, output:\n%s\nwant exit %d and output starting %q", strings.Join(s.args, " "), r.code, r.out, s.code, s.want)
		}
	}
	proctest.Eventually(t, "the after_spawn hook ran for the new worker", func() bool {
		b, _ := os.ReadFile(log)
		return strings.Contains(string(b), "after_spawn 2\n")
	})
}
