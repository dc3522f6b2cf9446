package arbiter

import (
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/poold/poold/watcher"
)

// matchTargets is targets for start, stop and restart, whose name may be a
// pattern as in Circus: property "match" is "glob" (the default, as
// circusctl sends it), "regex" (anchored at the start, like Python's
// re.match) or "simple" (the exact name). Names and patterns are compared
// in lower case. Other commands take the name as it is.
func (a *Arbiter) matchTargets(m *cmdMsg) ([]*watcher.Watcher, error) {
	switch m.req.Command {
	case "start", "stop", "restart":
	default:
		return a.targets(m)
	}
	p := m.props()
	if !p.has("name") {
		return a.targets(m)
	}
	name, err := p.str("name")
	if err != nil {
		return nil, err
	}
	mode, err := p.str("match")
	if err != nil {
		return nil, err
	}
	pattern := strings.ToLower(name)
	var match func(string) bool
	switch mode {
	case "simple":
		return a.targets(m)
	case "", "glob":
		if _, err := path.Match(pattern, ""); err != nil {
			// circusd's fnmatch takes a [ with no ] as itself: a name
			// such as "web[" (or one with a terminal escape) is looked up
			// as it is, "program ... not found" as list and status say.
			return a.targets(m)
		}
		match = func(s string) bool { ok, _ := path.Match(pattern, s); return ok }
	case "regex":
		re, err := regexp.Compile(`^(?:` + pattern + `)`)
		if err != nil {
			return nil, errorf(ErrnoBadProperty, "%s: bad regular expression %q: %v", m.req.Command, name, err)
		}
		match = re.MatchString
	default:
		return nil, errorf(ErrnoBadProperty, "%s: unknown match method %q; use simple, glob or regex", m.req.Command, mode)
	}
	ws := a.sorted(func(w *watcher.Watcher) bool { return match(strings.ToLower(w.Name())) })
	live := slices.DeleteFunc(slices.Clone(ws), func(w *watcher.Watcher) bool { return a.notLeaving(w, m.req.Command) != nil })
	if len(live) == 0 && len(ws) > 0 {
		return nil, a.notLeaving(ws[0], m.req.Command)
	}
	ws = live
	if len(ws) == 0 {
		return nil, a.notFound(name)
	}
	return ws, nil
}
