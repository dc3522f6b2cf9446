package arbiter

import (
	"slices"

	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher"
)

// The arbiter.reloadconfig event: one for each config reload, published
// when its config is applied (the changes begin) or refused (nothing
// changes). A subscriber learns from it that a reload happened and what
// it does:
//
//   - applied: added, removed; updated, the watchers whose change is in
//     force (no new workers needed, or stopped ones); rolling, those
//     whose workers are being replaced (or will be, once the one-shots
//     they depend on have run again): their reload or reload_failed
//     event tells how that ends, since a replacement that fails keeps
//     the old spec; sockets (added, removed, updated, renamed),
//     restart_needed and settings.
//   - refused: error, why (the reply's reason), with the lists empty.

// publishApplying publishes the event of a reload whose config is being
// applied: o is its outcome so far, touched the watchers it updated,
// held those whose update waits for a one-shot.
func (a *Arbiter) publishApplying(o reloadOutcome, touched []*watcher.Watcher, held []heldUpdate) {
	var updated, rolling []string
	for _, w := range touched {
		if w.Rolling() {
			rolling = append(rolling, w.Name())
		} else {
			updated = append(updated, w.Name())
		}
	}
	for _, u := range held {
		rolling = append(rolling, u.w.Name())
	}
	a.bus.Publish("", events.KindReloadConfig, map[string]any{
		"added": nonNil(slices.Clone(o.Added)), "removed": nonNil(slices.Clone(o.Removed)),
		"updated": nonNil(updated), "rolling": nonNil(rolling), "sockets": o.Sockets.fields(),
		"restart_needed": nonNil(slices.Clone(o.RestartNeeded)), "settings": settingKeys(o.Settings),
	})
}

// refuseReload answers a reload refused before anything changed with err, and
// publishes its event.
func (a *Arbiter) refuseReload(reply func(reloadOutcome, error), err error) {
	rej := errRejected{err}
	a.bus.Publish("", events.KindReloadConfig, map[string]any{
		"added": []string{}, "removed": []string{}, "updated": []string{}, "rolling": []string{},
		"sockets": socketDiff{}.fields(), "restart_needed": []string{}, "settings": []string{},
		"error": rej.Error(),
	})
	reply(reloadOutcome{}, rej)
}
