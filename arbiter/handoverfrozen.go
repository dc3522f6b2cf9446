package arbiter

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// When the workers can be handed over: nothing of theirs is half done
// (a reload, a removal, an exit being handled), and, from then to the
// exec, no exit is reaped that the state would miss.

// frozen says why the workers cannot be handed over now, or nil.
func (a *Arbiter) frozen() error {
	if a.stopping {
		return errors.New("poold is stopping")
	}
	var errs []error
	if a.reading.stuck {
		errs = append(errs, fmt.Errorf("%s; the new image would read the same file as it starts: make the file readable again first", a.stuckFor()))
	} else if a.reloads > 0 {
		errs = append(errs, errors.New("a config reload (SIGHUP, reloadconfig) is in progress"))
	}
	if err := a.parkedErr(); err != nil {
		errs = append(errs, err)
	}
	if err := a.exitsInFlight(); err != nil {
		errs = append(errs, err)
	}
	for _, w := range a.sorted(nil) {
		if a.leaving[w] {
			// The state has no "leaving": the new image would keep it,
			// stopped, for good, and the rm would be lost.
			errs = append(errs, fmt.Errorf("watcher %q: being removed (rm or a config reload); its workers are stopping", w.Name()))
			continue
		}
		if err := w.Frozen(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// stopAsked tells whether poold was asked to stop (SIGTERM, SIGINT,
// quit) while its loop still runs.
func (a *Arbiter) stopAsked() bool { return a.loopCtx != nil && a.loopCtx.Err() != nil }

// exitsInFlight names the workers reaped whose exit has yet to reach the
// loop (what they left in their cgroup being stopped, up to their
// graceful_timeout), or nil. The state holds no such exit: the new image
// could only take the worker as ended with its exit unknown (adopt.go),
// so the upgrade waits for this image to finish it.
func (a *Arbiter) exitsInFlight() error {
	var pids []string
	for pid, p := range a.procs {
		if _, _, ok := p.Reaped(); ok {
			name := "?"
			if w := a.owner[pid]; w != nil {
				name = w.Name()
			}
			pids = append(pids, fmt.Sprintf("watcher %q pid %d", name, pid))
		}
	}
	if len(pids) == 0 {
		return a.drainsInFlight()
	}
	slices.Sort(pids)
	return fmt.Errorf("the exits of %d worker(s) are being handled (%s: what they left is being stopped, up to their graceful_timeout)", len(pids), strings.Join(pids[:min(len(pids), 5)], ", "))
}

// holdReapsIfSettled holds the spawner's reaps (spawn.HoldReaps) when
// nothing keeps the workers from being handed over, and says whether it
// did. A worker reaped between the state and the exec would be handed
// over as alive, its exit status lost; one reaped before the hold and not
// yet handled (exitsInFlight) is seen by the second look.
func (a *Arbiter) holdReapsIfSettled() bool {
	if a.frozen() != nil {
		return false
	}
	a.spawner.HoldReaps()
	if a.frozen() != nil {
		a.spawner.ReleaseReaps()
		return false
	}
	return true
}
