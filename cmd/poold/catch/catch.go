// Package catch takes poold's control signals (SIGTERM, SIGINT, SIGQUIT,
// SIGHUP, SIGUSR1, SIGUSR2, SIGTTIN, SIGTTOU) over in the new image of an in-place upgrade from
// its package initialisation on, long before it serves. Until then each
// of them would end poold at once (their default action, or the Go
// runtime's for an unhandled one), and every worker with it. Caught
// signals wait in a buffered channel for poold's signal loop.
//
// Go itself leaves a window: the runtime installs its handlers as it
// starts, before any package's init, and one of those signals that
// arrives in the exec or the runtime's first milliseconds ends the
// process. Not SIGHUP nor SIGINT: the old image ignores both just before
// it execs (spawn.ExecImage), and the runtime leaves a signal it finds
// ignored so until the Notify below (one sent in between is lost, not
// fatal). SIGTERM and SIGQUIT keep the window: the runtime takes them
// over whatever they were.
//
// The channel is filled by the os/signal package, never blocks it (a
// signal that finds it full is dropped) and is read by one goroutine.
package catch

import (
	"os"
	"os/signal"
	"syscall"
)

// UpgradeEnv is set in the environment of an upgrade's new image (the
// value of arbiter/upgrade.EnvFDs, which this package must not import:
// it has to be initialised early).
const UpgradeEnv = "POOLD_UPGRADE_FDS"

// Signals are the signals poold acts on. SIGQUIT stops poold as SIGTERM
// does, as it stops circusd: left to Go's default (a goroutine dump, exit
// 2) it killed every worker mid-request through the parent-death signal.
// SIGTTIN and SIGTTOU, whose default stops the process, are only logged.
var Signals = []os.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGTTIN, syscall.SIGTTOU}

var caught chan os.Signal

func init() {
	if _, ok := os.LookupEnv(UpgradeEnv); ok {
		caught = make(chan os.Signal, 16)
		signal.Notify(caught, Signals...)
	}
}

// Caught is the channel of the signals caught since the start of a new
// image, or nil when this process is no upgrade's new image.
func Caught() <-chan os.Signal { return caught }

// Add catches sigs too, on Caught's channel: poold catches some signals
// only as PID 1, which package initialisation does not ask. A no-op when
// this process is no upgrade's new image.
func Add(sigs ...os.Signal) {
	if caught != nil && len(sigs) > 0 {
		signal.Notify(caught, sigs...)
	}
}
