package arbiter

import (
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher"
)

// props reads typed properties with errors a person can act on.
type props struct {
	cmd string
	p   map[string]any
}

func (m *cmdMsg) props() props { return props{m.req.Command, m.req.Properties} }

func (p props) has(k string) bool { _, ok := p.p[k]; return ok && p.p[k] != nil }

func (p props) str(k string) (string, error) {
	v, ok := p.p[k]
	if !ok || v == nil {
		return "", nil
	}
	if s, ok := v.(string); ok {
		return s, nil
	}
	// A number is refused, not made a string: through a float64 it lost
	// digits (2^63-1 became 9223372036854776000) or became "-0"; circusd
	// fails on a number too (its name.lower() raises).
	return "", errorf(ErrnoBadProperty, "%s: property %q must be a string, got %s; put it in quotes", p.cmd, k, jsonWords(v))
}

func (p props) integer(k string, def int) (int, error) {
	v, ok := p.p[k]
	if !ok || v == nil {
		return def, nil
	}
	switch v := v.(type) {
	case float64:
		const most = 1 << 53 // a JSON number holds every whole number up to this
		switch {
		case v == math.Trunc(v) && math.Abs(v) <= most:
			return int(v), nil
		case v == math.Trunc(v):
			return 0, errorf(ErrnoBadProperty, "%s: property %q is %.0f, too large (at most %d)", p.cmd, k, v, most)
		}
	case int: // in-process callers
		return v, nil
	case string:
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
			return n, nil
		}
	}
	return 0, errorf(ErrnoBadProperty, "%s: property %q must be a whole number, got %v", p.cmd, k, v)
}

// seconds reads a number of seconds >= 0: a JSON number, or a string
// holding one, as circusctl sends `kill --graceful_timeout 5`.
func (p props) seconds(k string) (time.Duration, error) {
	v := p.p[k]
	f, ok := v.(float64)
	if s, isStr := v.(string); isStr {
		var err error
		f, err = strconv.ParseFloat(strings.TrimSpace(s), 64)
		ok = err == nil
	}
	if !ok || f < 0 || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, errorf(ErrnoBadProperty, "%s: property %q must be seconds >= 0 (a number, or a string holding one), got %v", p.cmd, k, v)
	}
	d, ok := configs.Seconds(f)
	if !ok {
		return 0, errorf(ErrnoBadProperty, "%s: property %q is %v seconds, too large: at most %d seconds (about 292 years)", p.cmd, k, v, maxSeconds)
	}
	return d, nil
}

// maxSeconds is the largest whole number of seconds a time.Duration holds.
const maxSeconds = int64(math.MaxInt64 / time.Second)

func (p props) boolean(k string, def bool) (bool, error) {
	v, ok := p.p[k]
	if !ok || v == nil {
		return def, nil
	}
	switch v := v.(type) {
	case bool:
		return v, nil
	case string:
		if b, err := strconv.ParseBool(v); err == nil {
			return b, nil
		}
	case float64:
		return v != 0, nil
	}
	return false, errorf(ErrnoBadProperty, "%s: property %q must be true or false, got %v", p.cmd, k, v)
}

func (p props) obj(k string) (map[string]any, error) {
	v, ok := p.p[k]
	if !ok || v == nil {
		return nil, nil
	}
	o, ok := v.(map[string]any)
	if !ok {
		return nil, errorf(ErrnoBadProperty, "%s: property %q must be an object, got %v", p.cmd, k, v)
	}
	return o, nil
}

// watcher finds the watcher named by the "name" property (required).
func (a *Arbiter) watcherProp(m *cmdMsg) (*watcher.Watcher, error) {
	name, err := m.props().str("name")
	if err != nil {
		return nil, err
	}
	if name == "" {
		return nil, errorf(ErrnoBadProperty, "%s: property \"name\" (the watcher) is required", m.req.Command)
	}
	w, err := a.lookup(name)
	if err != nil {
		return nil, err
	}
	return w, a.notLeaving(w, m.req.Command)
}

func (a *Arbiter) lookup(name string) (*watcher.Watcher, error) {
	w, ok := a.watchers[strings.ToLower(name)]
	if !ok {
		return nil, a.notFound(name)
	}
	return w, nil
}

// notFound is the error for a watcher name that names none. A
// supervisorctl GROUP:PROCESS name (front:*, web:web_01), and its "all"
// (stop all) when no watcher has that name, are told what poold names
// instead.
func (a *Arbiter) notFound(name string) error {
	names := a.names()
	group, all := strings.Contains(name, ":"), strings.EqualFold(name, "all")
	hint := ""
	if !group && !all { // their hints say more
		hint = didYouMean(name, names)
	}
	err := errorf(ErrnoBadProperty, "program %s not found%s (known: %s)", quotedName(name), hint, listCapped(names, "list"))
	switch {
	case group:
		err.Reason += "; poold has no supervisorctl GROUP:PROCESS names: name the watcher, the NAME of the [program:NAME] (web, not web:web_01), each program of a [group:NAME] by its own name, or no name for every watcher"
	case all:
		err.Reason += "; poold has no supervisorctl \"all\": give no name for every watcher (poolctl stop, not poolctl stop all)"
	}
	return err
}

// quotedName is name for a reply: as it is, Circus's words ("program web
// not found"), when it is plain printable text; else quoted (%q), so
// that a name with a terminal escape, a newline or a NUL reads as the
// bytes it is instead of acting on the terminal that shows the reply.
func quotedName(name string) string {
	if q := strconv.Quote(name); name == "" || q[1:len(q)-1] != name || strings.ContainsAny(name, " \"") {
		return q
	}
	return name
}

// targets is the named watcher, or every watcher when name is absent.
func (a *Arbiter) targets(m *cmdMsg) ([]*watcher.Watcher, error) {
	if !m.props().has("name") {
		return a.sorted(func(w *watcher.Watcher) bool { return a.notLeaving(w, m.req.Command) == nil }), nil
	}
	w, err := a.watcherProp(m)
	if err != nil {
		return nil, err
	}
	return []*watcher.Watcher{w}, nil
}

// specs are the specs of every watcher.
func (a *Arbiter) specs() []configs.Watcher {
	out := make([]configs.Watcher, 0, len(a.watchers))
	for _, w := range a.watchers {
		out = append(out, w.Spec())
	}
	return out
}

// names are the watchers' names as configured (MyApp), sorted without
// case, as status and stats key them.
func (a *Arbiter) names() []string {
	names := make([]string, 0, len(a.watchers))
	for _, w := range a.watchers {
		names = append(names, w.Name())
	}
	sort.Slice(names, func(i, j int) bool { return strings.ToLower(names[i]) < strings.ToLower(names[j]) })
	return names
}

// listNames are the watchers' names lower-cased and sorted, as circusd's
// list gives them (and the topics watcher.<name>.*).
func (a *Arbiter) listNames() []string {
	names := make([]string, 0, len(a.watchers))
	for key := range a.watchers {
		names = append(names, key)
	}
	sort.Strings(names)
	return names
}

// strings reads a list of strings (a single string counts as a list of
// one); absent is nil.
func (p props) strings(k string) ([]string, error) {
	v, ok := p.p[k]
	if !ok || v == nil {
		return nil, nil
	}
	switch v := v.(type) {
	case string:
		return []string{v}, nil
	case []string:
		return v, nil
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, errorf(ErrnoBadProperty, "%s: property %q must be a list of strings, got %v", p.cmd, k, v)
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, errorf(ErrnoBadProperty, "%s: property %q must be a list of strings, got %v", p.cmd, k, v)
}

// Parks reports whether req may hold its reply back until work settles
// (a stop waiting for its grace period, an upgrade): "waiting" true, or a
// command that always waits for its outcome. A transport runs such a
// request beside the ones that follow it; every other command answers
// promptly, so it can run them one at a time in order.
func Parks(req Request) bool {
	if req.Command == "upgrade" {
		return true
	}
	wait, err := props{req.Command, req.Properties}.boolean("waiting", false)
	return err == nil && wait
}
