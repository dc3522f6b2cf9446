package arbiter

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/poold/poold/configs"
)

// settingChange is a setting a reload changed and applied at once: its
// key ("arbiter.max_processes") and old and new values; both "" for a
// secret ("web.token"), which is named but never shown.
type settingChange struct{ Key, From, To string }

// settingKeys lists the keys of changes, for the reply.
func settingKeys(changes []settingChange) []string {
	keys := make([]string, 0, len(changes))
	for _, c := range changes {
		keys = append(keys, c.Key)
	}
	return nonNil(keys)
}

// settingsSummary is "" without a change, else e.g.
// "arbiter: max_processes 8192 -> 4, stats_interval 1s -> 5s; web: token changed".
func settingsSummary(changes []settingChange) string {
	var sections []string
	parts := map[string][]string{}
	for _, c := range changes {
		section, key, _ := strings.Cut(c.Key, ".")
		if _, ok := parts[section]; !ok {
			sections = append(sections, section)
		}
		if c.From == "" && c.To == "" {
			parts[section] = append(parts[section], key+" changed")
		} else {
			parts[section] = append(parts[section], fmt.Sprintf("%s %s -> %s", key, c.From, c.To))
		}
	}
	out := make([]string, 0, len(sections))
	for _, s := range sections {
		out = append(out, s+": "+strings.Join(parts[s], ", "))
	}
	return strings.Join(out, "; ")
}

// applySettings takes the [arbiter] settings of an accepted config, and
// hands the config to Options.OnConfig for the rest. stats_interval,
// log_level, event_history (the event bus's history, resized), stuck_after and max_processes
// (read from a.cfg by every incr, set and add) apply at once, and are
// returned as applied, sorted; the endpoints, allow_remote (which guards
// the control endpoint bound at start) and log_format keep their old
// value. It returns the changed settings that need a restart, sorted.
func (a *Arbiter) applySettings(cfg *configs.Config) (restart []string, applied []settingChange) {
	old, next, oldWeb := a.cfg.Arbiter, &cfg.Arbiter, a.cfg.Web
	keep := func(key string, changed bool, restore func()) {
		if changed {
			restart = append(restart, "arbiter."+key)
			restore()
		}
	}
	keep("endpoint", next.Endpoint != old.Endpoint, func() { next.Endpoint = old.Endpoint })
	keep("pubsub_endpoint", next.PubSubEndpoint != old.PubSubEndpoint, func() { next.PubSubEndpoint = old.PubSubEndpoint })
	keep("stats_endpoint", next.StatsEndpoint != old.StatsEndpoint, func() { next.StatsEndpoint = old.StatsEndpoint })
	keep("allow_remote", next.AllowRemote != old.AllowRemote, func() { next.AllowRemote = old.AllowRemote })
	keep("log_format", next.LogFormat != old.LogFormat, func() { next.LogFormat = old.LogFormat })
	if next.EventHistory != old.EventHistory {
		a.bus.KeepHistory(next.EventHistory)
		applied = append(applied, settingChange{"arbiter.event_history", fmt.Sprint(old.EventHistory), fmt.Sprint(next.EventHistory)})
	}
	if !strings.EqualFold(next.LogLevel, old.LogLevel) {
		// Applied by Options.OnConfig; poold's --log-level, which wins,
		// is already in both.
		applied = append(applied, settingChange{"arbiter.log_level", old.LogLevel, next.LogLevel})
	}
	if next.MaxProcesses != old.MaxProcesses {
		applied = append(applied, settingChange{"arbiter.max_processes", fmt.Sprint(old.MaxProcesses), fmt.Sprint(next.MaxProcesses)})
		a.warnOverCeiling(next.MaxProcesses)
	}
	if next.StuckAfter != old.StuckAfter {
		a.stuckAfter.Store(int64(next.StuckAfter))
		applied = append(applied, settingChange{"arbiter.stuck_after", old.StuckAfter.String(), next.StuckAfter.String()})
	}
	if next.StatsInterval != old.StatsInterval {
		a.statsEvery.Store(int64(next.StatsInterval))
		select {
		case a.statsChanged <- struct{}{}:
		default:
		}
		applied = append(applied, settingChange{"arbiter.stats_interval", old.StatsInterval.String(), next.StatsInterval.String()})
	}
	// Applied by Options.OnConfig (the controller's rules); who may
	// control poold is what an audit of the log looks for first.
	for _, l := range []struct {
		key      string
		from, to []string
	}{{"control_allow", old.ControlAllow, next.ControlAllow}, {"control_read_only", old.ControlReadOnly, next.ControlReadOnly}} {
		if !slices.Equal(l.from, l.to) {
			applied = append(applied, settingChange{"arbiter." + l.key, fmt.Sprint(nonNil(slices.Clone(l.from))), fmt.Sprint(nonNil(slices.Clone(l.to)))})
		}
	}
	a.cfg = cfg
	if a.opts.OnConfig != nil {
		restart = append(restart, a.opts.OnConfig(cfg)...)
		applied = append(applied, webChanges(oldWeb, cfg.Web, restart)...)
	}
	sort.Strings(restart)
	return restart, applied
}

// warnOverCeiling warns when more workers run than a new
// arbiter.max_processes allows: poold stops none of them, but refuses
// every incr, set and add that would add one.
func (a *Arbiter) warnOverCeiling(limit int) {
	running := 0
	for _, w := range a.watchers {
		running += len(w.Pids())
	}
	if running > limit {
		a.log.Warn("config reload: more workers run than the new arbiter.max_processes allows; none is stopped, but incr, set and add that add workers are refused until they are fewer (decr or stop some, or raise arbiter.max_processes and reload)",
			"workers", running, "max_processes", limit)
	}
}
