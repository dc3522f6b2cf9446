package procinfo

import (
	"slices"

	"github.com/prometheus/procfs"
)

// Members lists, by worker pid, processes of the worker's own cgroup that
// its tree may miss, which the caller finds: every process of the cgroup
// (its cgroup.procs), or, where poold is the subreaper, those of poold's
// children that the cgroup holds. A process tree built from parent pids
// misses a descendant that daemonized (setsid and a double fork), as its
// parent becomes poold, a subreaper, or init. Such a process still
// counts against its worker's limits and is listed in its stats. A
// worker without an entry has a tree of its descendants by parent alone.
type Members map[int][]int

// adopt is in's children with, after them, the subtrees of the members
// ms that in's tree misses. Each root's parent is outside the missed
// members, so no root is in another's subtree (unless a process between
// them left the cgroup: then it is listed twice, which Peak does not
// mind). Must hold s.mu.
func (s *Sampler) adopt(in Info, ms []int, stats map[int]procfs.ProcStat, children map[int][]int, flat map[int]*Info, clk clock) []Info {
	kids := in.Children
	for _, k := range strays(ms, in, stats) {
		kids = append(kids, s.tree(k, stats, children, flat, clk, 1))
	}
	return kids
}

// strays lists the members of ms that in's tree does not hold, as
// subtree roots in pid order (see straysOf).
func strays(ms []int, in Info, stats map[int]procfs.ProcStat) []int {
	reached := make(map[int]bool)
	markTree(reached, in)
	return straysOf(ms, reached, stats)
}

// markTree marks in's pid and those of every process under it.
func markTree(reached map[int]bool, in Info) {
	reached[in.PID] = true
	for _, c := range in.Children {
		markTree(reached, c)
	}
}

// straysOf is the members of ms, alive in stats (a zombie is not: a
// member found as poold's child may be one, not reaped yet), that are not
// in reached and whose parent is not such a member either: the roots of
// the subtrees the tree by parent missed, in pid order. A root's own
// descendants come with its subtree.
func straysOf(ms []int, reached map[int]bool, stats map[int]procfs.ProcStat) []int {
	missed := make(map[int]bool)
	for _, m := range ms {
		if st, alive := stats[m]; alive && st.State != "Z" && st.State != "X" && !reached[m] {
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
