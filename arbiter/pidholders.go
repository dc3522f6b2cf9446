package arbiter

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"syscall"
)

// A start refused for want of pids (EAGAIN from the fork: a pids.max of
// poold's cgroup, or RLIMIT_NPROC) says which limit, but not who used
// it up: with a cgroup per worker, each one's pids.current is a cheap
// read, so the error names the watchers holding the most (r57b k8s L3:
// one watcher's fork bomb held 80 of 120).

// holdersShown is how many watchers the error names.
const holdersShown = 3

// explainPids adds to err, when it is a lack of pids, the watchers whose
// workers hold the most of them. Runs on the loop (it reads a.groups).
func (a *Arbiter) explainPids(err error) error {
	if err == nil || !errors.Is(err, syscall.EAGAIN) {
		return err
	}
	return fmt.Errorf("%w; %s", err, a.pidsHolders())
}

// pidsHolders words who holds the pids: the watchers with the most, by
// their workers' cgroups' pids.current.
func (a *Arbiter) pidsHolders() string {
	if a.tree == nil {
		return "poold runs its workers without cgroups here (" + a.containment + "), so it cannot tell which watcher holds them: " +
			"poold_worker_tree_processes, poolctl stats (each worker's children) and ps -eLf show the processes and threads"
	}
	per := map[string]int{}
	counted := false
	for pid, g := range a.groups {
		w := a.owner[pid]
		if w == nil || g == nil {
			continue
		}
		if n, ok := g.PidsCurrent(); ok {
			per[w.Name()] += n
			counted = true
		}
	}
	if !counted {
		return "no worker's cgroup counts its pids (on cgroup v1 only a watcher with pids_max has a pids cgroup; on v2 the pids controller is not enabled under " +
			a.tree.Dir + "), so poold cannot tell which watcher holds them: poold_worker_tree_processes and poolctl stats show each worker's processes"
	}
	type held struct {
		name string
		n    int
	}
	var hs []held
	for name, n := range per {
		hs = append(hs, held{name, n})
	}
	slices.SortFunc(hs, func(x, y held) int { return cmp.Or(cmp.Compare(y.n, x.n), cmp.Compare(x.name, y.name)) })
	var parts []string
	for _, h := range hs[:min(len(hs), holdersShown)] {
		parts = append(parts, fmt.Sprintf("watcher %q %d", h.name, h.n))
	}
	more := ""
	if len(hs) > holdersShown {
		more = fmt.Sprintf(" (and %d more watchers)", len(hs)-holdersShown)
	}
	return "the workers holding the most pids (processes and threads, their cgroups' pids.current): " + strings.Join(parts, ", ") + more +
		"; see which process forks: poolctl stats NAME"
}
