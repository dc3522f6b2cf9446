package arbiter

import (
	"fmt"
	"strings"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher"
)

// reloadConfig re-reads the config outside the loop and applies it on the
// loop; reply is called on the loop with the outcome (nil once the new
// config is applied and every watcher it touched has settled).
func (a *Arbiter) reloadConfig(reply func(error)) {
	if a.opts.Load == nil {
		reply(fmt.Errorf("poold was started without a config file to re-read"))
		return
	}
	a.bg.Add(1)
	go func() {
		defer a.bg.Done()
		cfg, err := a.opts.Load()
		a.post(configMsg{cfg: cfg, err: err, reply: reply})
	}()
}

// applyConfig applies a loaded config: sockets first (new ones bound before
// anything uses them), then watchers: untouched ones are left alone,
// changed ones updated (scaled, or rolled over when how they start
// changed), new ones added and started, removed ones stopped then dropped.
// Sockets that left the config are closed once the watchers have settled.
// Anything that can fail is checked before anything changes.
func (a *Arbiter) applyConfig(cfg *configs.Config, reply func(error)) {
	for _, spec := range cfg.Watchers {
		if err := watcher.CheckSpec(spec); err != nil {
			reply(err)
			return
		}
	}
	closeRemoved, err := a.socks.Apply(cfg.Sockets)
	if err != nil {
		reply(err)
		return
	}
	type update struct {
		w     *watcher.Watcher
		spec  configs.Watcher
		socks watcher.Sockets
	}
	var updates []update
	var added []configs.Watcher
	keep := map[string]bool{}
	for _, spec := range cfg.Watchers {
		key := strings.ToLower(spec.Name)
		keep[key] = true
		w, ok := a.watchers[key]
		if !ok {
			added = append(added, spec)
			continue
		}
		socks, err := a.handoff(spec, cfg.Sockets)
		if err != nil {
			// The config loader checked every socket reference, so this
			// is not expected; keep the watcher as it is.
			a.log.Error("config reload: watcher keeps its old settings", "watcher", spec.Name, "error", err)
			continue
		}
		updates = append(updates, update{w, spec, socks})
	}
	if a.cfg.Arbiter.Endpoint != cfg.Arbiter.Endpoint || a.cfg.Arbiter.PubSubEndpoint != cfg.Arbiter.PubSubEndpoint ||
		a.cfg.Arbiter.StatsEndpoint != cfg.Arbiter.StatsEndpoint {
		a.log.Warn("endpoints changed in the config; restart poold to apply them")
	}
	arb := a.cfg.Arbiter
	a.cfg = cfg
	a.cfg.Arbiter.Endpoint, a.cfg.Arbiter.PubSubEndpoint, a.cfg.Arbiter.StatsEndpoint = arb.Endpoint, arb.PubSubEndpoint, arb.StatsEndpoint

	var touched []*watcher.Watcher
	for _, u := range updates {
		if sameSpec(u.w.Spec(), u.spec) && watcher.SameFiles(u.w.Sockets().Files, u.socks.Files) {
			continue
		}
		if err := u.w.Update(u.spec, u.socks); err != nil {
			// CheckSpec passed, so this is not expected; report it.
			a.log.Error("config reload: updating watcher failed", "watcher", u.spec.Name, "error", err)
		}
		touched = append(touched, u.w)
	}
	var removed, started []*watcher.Watcher
	for key, w := range a.watchers {
		if !keep[key] {
			removed = append(removed, w)
		}
	}
	for _, spec := range added {
		w, err := a.addWatcher(spec)
		if err != nil {
			a.log.Error("config reload: adding watcher failed", "watcher", spec.Name, "error", err)
			continue
		}
		a.bus.Publish(w.Name(), "add", nil)
		if spec.Autostart {
			started = append(started, w)
		}
	}
	a.bus.Publish("", "reloadconfig", map[string]any{
		"added": len(added), "removed": len(removed), "updated": len(touched),
	})
	a.log.Info("config reloaded", "added", len(added), "removed", len(removed), "updated", len(touched))
	touched = append(touched, started...)
	a.stopInOrder(a.sortList(removed), func() {
		for _, w := range removed {
			a.forget(w)
		}
		a.startInOrder(a.sortList(started), func() {
			whenAllSettled(touched, func() {
				if err := closeRemoved(); err != nil {
					a.log.Warn("closing sockets removed from the config", "error", err)
				}
				for _, w := range touched {
					if err := w.ReloadError(); err != nil {
						reply(err)
						return
					}
				}
				reply(nil)
			})
		})
	})
}

func (a *Arbiter) sortList(ws []*watcher.Watcher) []*watcher.Watcher {
	in := map[*watcher.Watcher]bool{}
	for _, w := range ws {
		in[w] = true
	}
	return a.sorted(func(w *watcher.Watcher) bool { return in[w] })
}

func sameSpec(a, b configs.Watcher) bool {
	return fmt.Sprintf("%#v", a) == fmt.Sprintf("%#v", b)
}
