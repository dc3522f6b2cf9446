package main

import (
	"errors"
	"testing"

	"github.com/spf13/cobra"

	"github.com/poold/poold/configs"
)

// TestSignalNamesAreConfigs: poolctl's check of a signal name accepts
// what poold's parser (configs.ParseSignal) takes as a name, and refuses
// the rest; a number always goes on to poold.
func TestSignalNamesAreConfigs(t *testing.T) {
	t.Parallel()
	c := &cobra.Command{Use: "signal NAME [PID] SIGNAL"}
	for _, s := range []string{
		"TERM", "term", "SIGTERM", "sigterm", " HUP ", "USR1", "KILL", "WINCH", "CHLD", "IO", "POLL", "IOT", "SYS",
		"RTMIN", "SIGRTMIN+2", "rtmax-1", "SIGRTMAX", "SIGRTMAX+5",
		"BOGUS", "SIGBOGUS", "", "SIG", "TERM1", "RTMIN+", "RTMIN2", "SIGRTMIN+x", "-TERM", "15", "0", "99", "-1",
	} {
		_, perr := configs.ParseSignal(s)
		poold := perr == nil || errors.Is(perr, configs.ErrSignalRange) || s == "0" || s == "-1"
		err := checkSignal(c, "SIGNAL", s)
		if (err == nil) != poold {
			t.Errorf("%q: poolctl's check %v, poold's parser %v", s, err, perr)
		}
	}
}
