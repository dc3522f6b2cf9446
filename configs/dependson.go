package configs

import (
	"fmt"
	"slices"
	"strings"
)

// checkDependsOn checks that every depends_on entry names a watcher in
// defined (lower-cased names; nil = the names of ws) and that the
// dependencies have no cycle. key gives a watcher's depends_on key path.
// Entries naming the watcher itself are validateWatcher's to report.
func checkDependsOn(ps *problems, ws []Watcher, defined map[string]bool, key func(name string) string) {
	byLower := make(map[string]*Watcher, len(ws))
	for i := range ws {
		byLower[strings.ToLower(ws[i].Name)] = &ws[i]
	}
	if defined == nil {
		defined = make(map[string]bool, len(ws))
		for n := range byLower {
			defined[n] = true
		}
	}
	names := sortedKeys(byLower)
	checkUnknownDeps(ps, names, byLower, defined, key)
	reportCycles(ps, names, byLower, key)
}

// checkUnknownDeps reports depends_on entries that name no defined watcher.
func checkUnknownDeps(ps *problems, names []string, byLower map[string]*Watcher, defined map[string]bool, key func(name string) string) {
	for _, n := range names {
		w := byLower[n]
		for i, dep := range w.DependsOn {
			ld := strings.ToLower(dep)
			if ld != n && !defined[ld] {
				others := make([]string, 0, len(defined))
				for _, o := range sortedKeys(defined) {
					if o != n {
						others = append(others, o)
					}
				}
				hint := "no other watchers are defined"
				if len(others) > 0 {
					hint = "defined watchers: " + strings.Join(others, ", ")
				}
				ps.add(fmt.Sprintf("%s[%d]", key(w.Name), i), "unknown watcher %q; %s", dep, hint)
			}
		}
	}
}

// reportCycles finds cycles among the dependencies of the watchers in
// byLower, visited in the order of names.
func reportCycles(ps *problems, names []string, byLower map[string]*Watcher, key func(name string) string) {
	// Depth-first search; a dependency met again while still on the
	// path closes a cycle. Each cycle is reported once, starting from
	// its smallest name.
	const (
		unseen = iota
		onPath
		done
	)
	state := make(map[string]int, len(names))
	reported := map[string]bool{}
	var path []string
	var visit func(n string)
	visit = func(n string) {
		state[n] = onPath
		path = append(path, n)
		deps := make([]string, 0, len(byLower[n].DependsOn))
		for _, dep := range byLower[n].DependsOn {
			if ld := strings.ToLower(dep); ld != n && byLower[ld] != nil && !slices.Contains(deps, ld) {
				deps = append(deps, ld)
			}
		}
		for _, ld := range deps {
			switch state[ld] {
			case unseen:
				visit(ld)
			case onPath:
				cycle := slices.Clone(path[slices.Index(path, ld):])
				lo := slices.Index(cycle, slices.Min(cycle))
				cycle = append(cycle[lo:], cycle[:lo]...)
				id := strings.Join(cycle, "\x00")
				if !reported[id] {
					reported[id] = true
					shown := make([]string, 0, len(cycle)+1)
					for _, c := range cycle {
						shown = append(shown, byLower[c].Name)
					}
					shown = append(shown, shown[0])
					ps.add(key(byLower[cycle[0]].Name), "cycle %s: remove one of these dependencies", strings.Join(shown, " -> "))
				}
			}
		}
		path = path[:len(path)-1]
		state[n] = done
	}
	for _, n := range names {
		if state[n] == unseen {
			visit(n)
		}
	}
}
