package main

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

// realtimeName is SIGRTMIN or SIGRTMAX, with an offset or none.
var realtimeName = regexp.MustCompile(`^SIGRT(MIN|MAX)([+-][0-9]+)?$`)

// checkSignal refuses, as bad usage (exit 2, as a bad number is), a
// SIGNAL that is no signal name poold knows: the names of
// configs.ParseSignal, which TestSignalNamesAreConfigs holds this to
// (poolctl does not link the config loader). A number goes to poold,
// which judges its range and answers as circusd does.
func checkSignal(c *cobra.Command, what, s string) error {
	t := strings.TrimSpace(s)
	if _, err := strconv.Atoi(t); err == nil {
		return nil
	}
	up := strings.ToUpper(t)
	if !strings.HasPrefix(up, "SIG") {
		up = "SIG" + up
	}
	if unix.SignalNum(up) != 0 || realtimeName.MatchString(up) {
		return nil
	}
	return usagef("%s: %s %q is no signal: use a name such as TERM, HUP or SIGRTMIN+2, or a number (usage: poolctl %s)", c.Name(), what, s, c.Use)
}

// signalName is signal n's name without "SIG" (TERM), as a config
// writes it; "" for a number with no name (a realtime signal, 0).
func signalName(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.TrimPrefix(unix.SignalName(unix.Signal(n)), "SIG")
}

// swappedSignal is err, the refusal of a SIGNAL that is no signal, or,
// for supervisorctl's order (signal HUP web: the signal first, then the
// name, which is no signal), the refusal naming poolctl's order. Not
// taken as meant: a signal acts on processes, so poolctl runs only what
// it was told in its own order, and says which that is.
func swappedSignal(c *cobra.Command, args []string, err error) error {
	if len(args) != 2 || checkSignal(c, "SIGNAL", args[0]) != nil {
		return err
	}
	return usagef("%s: %q is a signal and %q none: that is supervisorctl's order (signal SIGNAL NAME); poolctl's is 'poolctl signal %s %s' (usage: poolctl %s)",
		c.Name(), args[0], args[1], args[1], args[0], c.Use)
}
