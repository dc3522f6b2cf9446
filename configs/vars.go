package configs

import (
	"regexp"
	"slices"
	"sort"
	"strings"
)

// varRE matches $(pool.X), $(circus.X), ((pool.X)) and ((circus.X)).
// Group 1 or 2 holds X. A plain $VAR never matches.
var varRE = regexp.MustCompile(`\$\((?:pool|circus)\.([^()\s]+)\)|\(\((?:pool|circus)\.([^()\s]+)\)\)`)

// Variable names a watcher's cmd, args and env may use (PROTOCOL.md
// section 4), besides the families "sockets.NAME" and "env.KEY".
var varNames = []string{"name", "uid", "wid", "working_dir"}

// Expand replaces every $(pool.X), $(circus.X), ((pool.X)) and
// ((circus.X)) in s whose X is a key of vars (e.g. "wid", "sockets.web",
// "env.HOME"); socket names match case-insensitively. Unknown variables
// are left as written; a plain $VAR is never touched.
func Expand(s string, vars map[string]string) string {
	return ExpandFunc(s, func(x string) (string, bool) {
		v, ok := vars[x]
		return v, ok
	})
}

// ExpandFunc is Expand with the values given by lookup, which reports
// whether it knows X; a socket name lookup does not know is tried again
// lower-cased.
func ExpandFunc(s string, lookup func(x string) (string, bool)) string {
	if !strings.Contains(s, "(pool.") && !strings.Contains(s, "(circus.") {
		return s
	}
	var b strings.Builder
	last := 0
	for _, m := range varRE.FindAllStringSubmatchIndex(s, -1) {
		x := varFrom(s, m)
		val, ok := lookup(x)
		if !ok {
			if name, isSock := strings.CutPrefix(x, "sockets."); isSock {
				val, ok = lookup("sockets." + strings.ToLower(name))
			}
		}
		if !ok {
			continue
		}
		b.WriteString(s[last:m[0]])
		b.WriteString(val)
		last = m[1]
	}
	b.WriteString(s[last:])
	return b.String()
}

// varFrom returns X from one match of varRE.
func varFrom(s string, m []int) string {
	if m[2] >= 0 {
		return s[m[2]:m[3]]
	}
	return s[m[4]:m[5]]
}

// variables returns every X referenced in s, in order of appearance.
func variables(s string) []string {
	var out []string
	for _, r := range varRefs(s) {
		out = append(out, r.name)
	}
	return out
}

// varRef is one variable reference: its X and the text written
// ("$(circus.sockets.web)"), so that messages quote what the user wrote.
type varRef struct{ name, text string }

// varRefs returns every variable reference in s, in order of appearance.
func varRefs(s string) []varRef {
	var out []varRef
	for _, m := range varRE.FindAllStringSubmatchIndex(s, -1) {
		out = append(out, varRef{varFrom(s, m), s[m[0]:m[1]]})
	}
	return out
}

// knownVar reports whether X names a variable poold provides.
func knownVar(x string) bool {
	if strings.HasPrefix(x, "sockets.") || strings.HasPrefix(x, "env.") {
		return true
	}
	return slices.Contains(varNames, x)
}

// socketRefs returns the lower-cased socket names referenced through
// $(pool.sockets.NAME) in cmd, args and env, in order, without duplicates.
func (w Watcher) socketRefs() []string {
	var out []string
	texts := append(append([]string{w.Cmd}, w.Args...), w.Env...)
	for _, t := range texts {
		if !strings.Contains(t, "sockets.") {
			// No reference can be in it (varRE): the regexp is skipped.
			// The loop asks for the names in every snapshot and every
			// look at the sockets' queues, and most texts (env's above
			// all) have none.
			continue
		}
		for _, x := range variables(t) {
			if name, ok := strings.CutPrefix(x, "sockets."); ok {
				name = strings.ToLower(name)
				if !slices.Contains(out, name) {
					out = append(out, name)
				}
			}
		}
	}
	return out
}

// SocketNames returns, in fd order (3, 4, ...), the names of the sockets
// in all that this watcher's workers inherit: those listed in Sockets in
// their order, then those referenced through $(pool.sockets.NAME) in cmd,
// args and env in order of appearance, then with UseSockets every other
// socket sorted by name. No duplicates; names not in all are skipped.
// Names compare case-insensitively; the returned names are those of all.
func (w Watcher) SocketNames(all []Socket) []string {
	byLower := make(map[string]string, len(all))
	for _, s := range all {
		byLower[strings.ToLower(s.Name)] = s.Name
	}
	var out []string
	seen := map[string]bool{}
	add := func(name string) {
		real, ok := byLower[strings.ToLower(name)]
		if !ok || seen[real] {
			return
		}
		seen[real] = true
		out = append(out, real)
	}
	for _, n := range w.Sockets {
		add(n)
	}
	for _, n := range w.socketRefs() {
		add(n)
	}
	if w.UseSockets {
		rest := make([]string, 0, len(all))
		for _, s := range all {
			rest = append(rest, s.Name)
		}
		sort.Strings(rest)
		for _, n := range rest {
			add(n)
		}
	}
	return out
}
