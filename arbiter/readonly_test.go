package arbiter

import (
	"slices"
	"testing"

	"github.com/poold/poold/arbiter/wire"
)

// The read-only commands are listed in wire, for poolctl, away from the
// command table here: each must name a command poold runs, and the ones
// that change something must not be among them.
func TestReadOnlyCommandsAreCommands(t *testing.T) {
	known := Commands()
	for _, c := range wire.ReadOnlyCommands() {
		if !slices.Contains(known, c) {
			t.Errorf("wire lists %q as read-only, but poold has no such command", c)
		}
	}
	for _, c := range []string{"incr", "decr", "set", "add", "rm", "reload", "reloadconfig", "stop", "start", "restart", "signal", "kill", "quit", "upgrade", "reopen"} {
		if ReadOnly(c) {
			t.Errorf("%s changes poold but is listed read-only", c)
		}
	}
	for _, c := range []string{"logs", "upgrade_status", "status", "events_since"} {
		if !ReadOnly(c) {
			t.Errorf("%s changes nothing but is not listed read-only", c)
		}
	}
}
