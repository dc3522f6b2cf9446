package arbiter

import (
	"fmt"
	"strings"

	"github.com/poold/poold/events"
)

// ExitWatcherFailed is poold's exit status after a watcher with
// failure_action = "exit" reached failed: EX_UNAVAILABLE of sysexits(3),
// a service it needs cannot run. Not 78: the same config may start the
// next time (a dependency that was down), so a restart policy should
// restart poold, as it would a container's single app that exited.
const ExitWatcherFailed = 69

// WatcherFailedError is what Run returns after it stopped every watcher
// because a watcher with failure_action = "exit" reached failed.
type WatcherFailedError struct {
	Watcher, Reason string
}

func (e *WatcherFailedError) Error() string {
	return fmt.Sprintf("watcher %q failed (%s) and its failure_action is \"exit\": poold stopped every watcher and exits with status %d; fix the cause and start poold again (or set failure_action = \"none\" to keep the others running)",
		e.Watcher, e.Reason, ExitWatcherFailed)
}

// watcherFailed, on the loop (a watcher's KindFailed event), notes a
// failed watcher whose failure_action is "exit". The stop itself begins
// at the loop's next turn, out of the watcher's own exit handling.
func (a *Arbiter) watcherFailed(name string, kind events.Kind, fields map[string]any) {
	if kind != events.KindFailed || a.failExit != nil || a.stopping {
		return
	}
	w := a.watchers[strings.ToLower(name)]
	if w == nil || w.Spec().FailureAction != "exit" {
		return
	}
	reason, _ := fields["reason"].(string)
	a.failExit = &WatcherFailedError{Watcher: name, Reason: reason}
	a.log.Error("watcher failed and its failure_action is exit: stopping every watcher gracefully, then exiting",
		"watcher", name, "reason", reason, "exit_status", ExitWatcherFailed)
}
