package watcher

import (
	"context"
	"errors"
	"time"

	"github.com/poold/poold/configs"
)

// A start looks the watcher's user and group up again (refreshCred). A
// name the passwd and group files lack (a directory user: LDAP, SSSD) is
// asked of getent, which a slow directory holds for seconds; the loop
// must not wait for it, or every command would. So:
//
//	spawn a wid ──▶ answer at hand? ──yes──▶ spawn (or its error)
//	                     │ no (configs.ErrNSSPending)
//	                     ▼
//	         slot held (HoldLookup); getent asked off the loop
//	         (host.Check, one run per watcher at a time)
//	                     │ answered (kept for the NSS cache's time)
//	                     ▼
//	         every HoldLookup slot due again ──▶ spawn
//
// A start that waits (poolctl start --waiting) waits for it, as for a
// before_spawn hook; everything else is answered meanwhile.

// lookupTimeout bounds the run off the loop: Credential asks getent at
// most three times (passwd, group, initgroups), each bounded by the
// configs package (5 s). Its outcome matters not: the answers kept do.
const lookupTimeout = 20 * time.Second

// gateLookup holds s while the watcher's user and group are asked of NSS
// off the loop, when err (of procSpec) says the answer is not at hand;
// it reports whether it did.
func (w *Watcher) gateLookup(s *slot, err error) bool {
	if !errors.Is(err, configs.ErrNSSPending) {
		return false
	}
	w.setHold(s, HoldLookup, w.host.Now())
	if w.lookup != 0 {
		return true // one run asks for every slot of the watcher
	}
	w.seq++
	w.lookup = w.seq
	spec := w.spec
	w.log.Debug("asking NSS (getent) for the watcher's user and group off the loop; its starts wait", "uid", spec.UID, "gid", spec.GID)
	w.host.Check(Check{Watcher: w.id, Kind: CheckLookup, Gen: w.lookup}, lookupTimeout, func(context.Context) error {
		_, err := spec.Credential() // keeps the answers, found or not
		return err
	})
	return true
}

// lookedUp ends the run gen of gateLookup: the slots it held are due,
// and their starts find the answer at hand.
func (w *Watcher) lookedUp(gen uint64) {
	if gen != w.lookup {
		return
	}
	w.lookup = 0
	if w.holdN[HoldLookup] == 0 {
		return
	}
	defer w.settle()
	now := w.host.Now()
	for _, s := range w.slots {
		if s.hold == HoldLookup {
			w.setHold(s, HoldDue, now)
		}
	}
}
