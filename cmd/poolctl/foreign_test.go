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
