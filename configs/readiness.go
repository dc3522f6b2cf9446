package configs

import "strings"

// warnOptionalDeps warns of a watcher that counts for readiness (one
// with autostart = false does once started) and depends on one with
// required_for_readiness = false. depends_on is
// systemd's Requires=: when the optional one fails, the one that needs
// it keeps running but cannot start again, and /readyz stays ready until
// it has to. A warning, not an error, and the key keeps its word (the
// dependency is not counted behind the user's back): a dependency whose
// failure the dependent survives is legitimate, but most often one of
// the two keys is a slip.
func warnOptionalDeps(ps *problems, ws []Watcher) {
	byLower := make(map[string]*Watcher, len(ws))
	for i := range ws {
		byLower[strings.ToLower(ws[i].Name)] = &ws[i]
	}
	warned := map[string]bool{}
	for _, w := range ws {
		if w.ReadinessOptional {
			continue
		}
		counts := "counts for readiness"
		if !w.Autostart {
			counts += " once started (autostart = false)"
		}
		for _, dep := range w.DependsOn {
			d := byLower[strings.ToLower(dep)]
			if d == nil || d == byLower[strings.ToLower(w.Name)] || !d.ReadinessOptional || warned[d.Name+"\x00"+w.Name] {
				continue
			}
			warned[d.Name+"\x00"+w.Name] = true
			ps.warn("watchers."+d.Name+".required_for_readiness",
				"is false, but watcher %q, which %s, depends on it (depends_on): when %q fails, %q keeps running but cannot start again, and /readyz stays ready until it has to; set required_for_readiness = false on %q too, or drop it from %q so that it counts",
				w.Name, counts, d.Name, w.Name, w.Name, d.Name)
		}
	}
}
