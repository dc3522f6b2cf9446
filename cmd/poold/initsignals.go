package main

import (
	"os"
	"strconv"
	"syscall"
)

// sigRTMIN is glibc's SIGRTMIN, from which systemd and `kill -RTMIN+N`
// count (the kernel's first two real-time signals are glibc's own).
const sigRTMIN = syscall.Signal(34)

// haltSignals are how managers of system containers stop their init:
// LXC and Incus send SIGPWR, systemd-nspawn's `machinectl poweroff`
// SIGRTMIN+4 (and halt SIGRTMIN+3). As PID 1 poold takes them as
// SIGTERM; elsewhere they keep their defaults.
var haltSignals = []os.Signal{syscall.SIGPWR, sigRTMIN + 3, sigRTMIN + 4}

// idleSignals do nothing to poold, and as PID 1 of a pid namespace the
// kernel drops them when poold has no handler: caught there only to say
// once that they were ignored.
var idleSignals = []os.Signal{syscall.SIGALRM, syscall.SIGVTALRM, syscall.SIGWINCH}

// initSignals are the signals poold catches only as PID 1.
func initSignals() []os.Signal {
	if os.Getpid() != 1 {
		return nil
	}
	return append(append([]os.Signal(nil), haltSignals...), idleSignals...)
}

func isOneOf(sig os.Signal, list []os.Signal) bool {
	for _, s := range list {
		if s == sig {
			return true
		}
	}
	return false
}

// ignoredSaid holds the idle signals already logged (read and written
// by the signal loop only).
var ignoredSaid = map[os.Signal]bool{}

// asInit maps sig, caught as PID 1, to what poold acts on: a halt signal
// to SIGTERM (logged), an idle one to nil (logged the first time).
func (d *daemon) asInit(sig os.Signal) os.Signal {
	switch {
	case isOneOf(sig, haltSignals):
		d.log.Info("as PID 1, taking the signal as a stop request, as SIGTERM (how LXC, Incus and systemd-nspawn stop a container's init)", "signal", initSignalName(sig))
		return syscall.SIGTERM
	case isOneOf(sig, idleSignals):
		if !ignoredSaid[sig] {
			ignoredSaid[sig] = true
			d.log.Warn("signal ignored (said once): poold stops on TERM, INT or QUIT, and as PID 1 on PWR, RTMIN+3 and RTMIN+4; HUP reloads", "signal", signalName(sig))
		}
		return nil
	}
	return sig
}

// initSignalName names sig as kill -l does: RTMIN+4 rather than 38.
func initSignalName(sig os.Signal) string {
	if s, ok := sig.(syscall.Signal); ok && s > sigRTMIN && s < sigRTMIN+16 {
		return "RTMIN+" + strconv.Itoa(int(s-sigRTMIN))
	}
	return signalName(sig)
}
