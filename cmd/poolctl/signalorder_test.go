package main

import (
	"strings"
	"testing"
)

// supervisorctl's order, signal HUP web, got "SIGNAL "web" is no signal"
// with the usage only (r67 supervisord trial F10): it names poolctl's
// order, the command to run. Nothing is sent (exit 2, no poold needed).
func TestSignalInSupervisorctlOrder(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"signal", "HUP", "web"}, `signal: "HUP" is a signal and "web" none: that is supervisorctl's order (signal SIGNAL NAME); poolctl's is 'poolctl signal web HUP'`},
		{[]string{"signal", "SIGUSR1", "web"}, "poolctl's is 'poolctl signal web SIGUSR1'"},
		{[]string{"signal", "web", "nosig"}, `signal: SIGNAL "nosig" is no signal`},
		{[]string{"signal", "HUP", "4711", "web"}, `signal: SIGNAL "web" is no signal`},
	} {
		r := poolctl(t, append([]string{"--endpoint", "ipc:///nonexistent/c.sock"}, c.args...)...)
		if r.code != exitUsage || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: want exit %d with %q: %v", c.args, exitUsage, c.want, r)
		}
	}
}
