package procinfo

import (
	"github.com/prometheus/procfs"
)

// TreeUsage is a process's Usage and that of every process under it.
type TreeUsage struct {
	Own Usage
	// Tree sums RSS and CPU over the process and its descendants.
	// Tree.CPUSeconds also holds the CPU of the descendants that ended
	// and were waited for by one of them (a gunicorn master's replaced
	// workers), so it only grows while the tree reaps its own. RSS
	// counts a page shared by several processes once in each, as ps.
	Tree Usage
	// Processes is how many processes the tree holds, itself included.
	Processes int
	// Members are the pids of those processes, the root first: whose
	// open descriptors a scrape reads (ReadFDs).
	Members []int
}

// ReadTreeUsage reads the usage of each pid and of its process tree, for
// a metrics scrape. It learns the trees as Sample does: every process of
// the host at most every FullScanEvery (or when a pid is new to it), and
// in between the pids and their known descendants only. It does not
// change Sample's CPU baselines. A pid that is gone is missing.
func (s *Sampler) ReadTreeUsage(pids []int) (map[int]TreeUsage, error) {
	return s.ReadTreeUsageWith(pids, nil)
}

// ReadTreeUsageWith is ReadTreeUsage that also counts in each pid's tree
// the processes of members[pid] (its cgroup's, see Members) that its
// process tree by parent misses.
func (s *Sampler) ReadTreeUsageWith(pids []int, members Members) (map[int]TreeUsage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.init(); err != nil {
		return nil, err
	}
	s.dir = openProcDir(s.root)
	defer func() { s.dir = s.dir.closeDir() }()
	stats, children, _, err := s.read(pids, members, s.now())
	if err != nil {
		return nil, err
	}
	out := make(map[int]TreeUsage, len(pids))
	for _, pid := range pids {
		st, ok := stats[pid]
		if !ok {
			continue
		}
		own := s.usageOf(st)
		tu := TreeUsage{Own: own}
		s.addTree(&tu, pid, stats, children, 0)
		if ms := members[pid]; len(ms) > 0 {
			reached := make(map[int]bool, len(tu.Members))
			for _, m := range tu.Members {
				reached[m] = true
			}
			for _, k := range straysOf(ms, reached, stats) {
				if !reached[k] {
					n := len(tu.Members)
					s.addTree(&tu, k, stats, children, 1)
					for _, m := range tu.Members[n:] {
						reached[m] = true
					}
				}
			}
		}
		out[pid] = tu
	}
	return out, nil
}

// usageOf is st's own figures as Usage. Must hold s.mu.
func (s *Sampler) usageOf(st procfs.ProcStat) Usage {
	return Usage{RSS: uint64(max(st.RSS, 0)) * s.pageSize, CPUSeconds: float64(st.UTime+st.STime) / userHZ}
}

// addTree adds pid and its descendants to tu, with the checks of tree: a
// child that exited, or whose pid another process took, is skipped.
func (s *Sampler) addTree(tu *TreeUsage, pid int, stats map[int]procfs.ProcStat, children map[int][]int, depth int) {
	st := stats[pid]
	own := s.usageOf(st)
	tu.Processes++
	tu.Members = append(tu.Members, pid)
	tu.Tree.RSS += own.RSS
	tu.Tree.CPUSeconds += own.CPUSeconds + float64(max(st.CUTime, 0)+max(st.CSTime, 0))/userHZ
	if depth >= maxDepth {
		return
	}
	for _, k := range children[pid] {
		if kst, alive := stats[k]; k == pid || !alive || kst.PPID != pid {
			continue
		}
		s.addTree(tu, k, stats, children, depth+1)
	}
}
