package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// Defect: a supervisorctl command poolctl has no command of that name for
// got cobra's closest-name guess: `reread` (re-read the config) was told
// "Did you mean reload?", which replaces every worker, and `pid` "add".
// Each now says what does its job in poolctl.
func TestSupervisorctlCommandsSayWhatToRun(t *testing.T) {
	t.Parallel()
	ep := missingEndpoint(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"reread"}, "reread is a supervisorctl command; poolctl has none by that name: `poolctl reloadconfig` re-reads"},
		{[]string{"update", "web"}, "`poolctl reloadconfig`"},
		{[]string{"tail", "-f", "web", "stderr"}, "`poolctl logs NAME -f` follows it"},
		{[]string{"pid", "web"}, "`poolctl list NAME` prints a watcher's pids"},
		{[]string{"clear", "all"}, "`poolctl reopen NAME`"},
		{[]string{"shutdown"}, "`poolctl quit`"},
		{[]string{"avail"}, "`poolctl list`"},
	} {
		var out, errb bytes.Buffer
		code := run(context.Background(), append([]string{"--endpoint", ep}, tc.args...), &out, &errb)
		if code != exitUsage || !strings.Contains(errb.String(), tc.want) || strings.Contains(errb.String(), "Did you mean") {
			t.Errorf("poolctl %s: exit %d, stderr %q; want exit %d and %q", strings.Join(tc.args, " "), code, errb.String(), exitUsage, tc.want)
		}
	}
}

// Defect (r61 pm2 trial): PM2's command names got cobra's guess, some of
// them destructive (`ps`: "Did you mean rm?", `show`: stop), or no
// pointer at all (describe, scale, monit, save). Each now says what does
// its job in poolctl.
func TestPM2CommandsSayWhatToRun(t *testing.T) {
	t.Parallel()
	ep := missingEndpoint(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"ps"}, "ps is a PM2 command; poolctl has none by that name: `poolctl stats` lists every watcher's processes"},
		{[]string{"ls"}, "`poolctl stats` lists"},
		{[]string{"show", "web"}, "`poolctl status NAME` says how a watcher is"},
		{[]string{"info", "web"}, "`poolctl options NAME` lists its settings"},
		{[]string{"describe", "web"}, "`poolctl stats NAME` its processes"},
		{[]string{"jlist"}, "`poolctl stats --json`"},
		{[]string{"scale", "web", "4"}, "`poolctl set NAME numprocesses N`"},
		{[]string{"delete", "web"}, "`poolctl rm NAME` stops and removes a watcher"},
		{[]string{"monit"}, "`poolctl top`"},
		{[]string{"save"}, "poold keeps no dump"},
		{[]string{"startup", "systemd"}, `README "Under systemd"`},
		{[]string{"flush", "web"}, "`poolctl reopen NAME`"},
		{[]string{"reloadLogs"}, "`poolctl reopen [NAME]`"},
	} {
		var out, errb bytes.Buffer
		code := run(context.Background(), append([]string{"--endpoint", ep}, tc.args...), &out, &errb)
		if code != exitUsage || !strings.Contains(errb.String(), tc.want) || strings.Contains(errb.String(), "Did you mean") {
			t.Errorf("poolctl %s: exit %d, stderr %q; want exit %d and %q", strings.Join(tc.args, " "), code, errb.String(), exitUsage, tc.want)
		}
	}
}
