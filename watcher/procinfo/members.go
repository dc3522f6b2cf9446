package procinfo

import (
	"slices"

	"github.com/prometheus/procfs"
)

// Members lists, by worker pid, every process of the worker's own cgroup
// (its cgroup.procs), which the caller reads: a process tree built from
// parent pids misses a descendant that daemonized (setsid and a double
// fork), as its parent becomes poold, a subreaper, or init. Such a
// process still counts against its worker's limits and is listed in its
// stats. A worker without a cgroup of its own has no entry, and its tree
// is its descendants by parent alone.
type Members map[int][]int

// strays lists the members of ms that in's tree does not hold, as
// subtree roots in pid order (see straysOf).
func strays(ms []int, in *Info, stats map[int]procfs.ProcStat) []int {
	if len(ms) == 0 {
		return nil
	}
	reached := make(map[int]bool)
	var walk func(in *Info)
	walk = func(in *Info) {
		reached[in.PID] = true
		for i := range in.Children {
			walk(&in.Children[i])
		}
	}
	walk(in)
	return straysOf(ms, reached, stats)
}

// straysOf is the members of ms, alive in stats, that are not in reached
// and whose parent is not such a member either: the roots of the subtrees
// the tree by parent missed, in pid order. A root's own descendants come
// with its subtree.
func straysOf(ms []int, reached map[int]bool, stats map[int]procfs.ProcStat) []int {
	missed := make(map[int]bool)
	for _, m := range ms {
		if _, alive := stats[m]; alive && !reached[m] {
			missed[m] = true
		}
	}
	var roots []int
	for m := range missed {
		if st := stats[m]; st.PPID == m || !missed[st.PPID] {
			roots = append(roots, m)
		}
	}
	slices.Sort(roots)
	return roots
}
