package procinfo

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/prometheus/procfs"
)

// How a sample learns the processes of the host: every one at most every
// FullScanEvery, and in between only what is new or asked for.

// FullScanEvery is how often Sample reads every process on the host to
// learn the process trees; in between it lists /proc and reads only the
// processes it has not seen yet (learnNew), the asked pids and their
// descendants (a pid asked for that it has not seen forces a full scan).
// Reading every /proc/<pid>/stat each second was most of poold's idle CPU.
var FullScanEvery = 10 * time.Second

// read returns the stat of pids, their descendants and their members,
// the children of each process, and which pids it tried to read (nil:
// every process). Must hold s.mu.
func (s *Sampler) read(pids []int, members Members, now time.Time) (stats map[int]procfs.ProcStat, children map[int][]int, tried map[int]bool, err error) {
	full := s.scanAt.IsZero() || now.Sub(s.scanAt) >= FullScanEvery
	for _, pid := range pids {
		if !full && !s.scanned[pid] {
			full = true
		}
	}
	if full {
		return s.scanAll(now)
	}
	stats, err = s.learnNew()
	if err != nil {
		return nil, nil, nil, err
	}
	// The pids and their known descendants, read side by side: one at a
	// time, the reads of 10,000 workers' stat files took one core for
	// the whole of a `stats` while the other had nothing to do. A
	// descendant of a process that has exited is read too (it may have
	// been handed to another parent: tree leaves it out then).
	tried = make(map[int]bool, len(pids))
	var todo []int
	var visit func(pid, depth int)
	visit = func(pid, depth int) {
		if tried[pid] || depth > maxDepth {
			return
		}
		tried[pid] = true
		if _, ok := stats[pid]; !ok {
			todo = append(todo, pid)
		}
		for _, k := range s.children[pid] {
			visit(k, depth+1)
		}
	}
	for _, pid := range pids {
		visit(pid, 0)
		for _, m := range members[pid] {
			visit(m, 1)
		}
	}
	if len(todo) > 0 {
		grown := make(map[int]procfs.ProcStat, len(stats)+len(todo))
		maps.Copy(grown, stats)
		stats = readStats(s.dir, todo, grown)
	}
	return stats, s.children, tried, nil
}

// scanAll reads every process on the host and learns the trees afresh.
// Must hold s.mu.
func (s *Sampler) scanAll(now time.Time) (map[int]procfs.ProcStat, map[int][]int, map[int]bool, error) {
	all, err := listPids(s.root)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("procinfo: list processes in %s: %w", s.root, err)
	}
	stats := readStats(s.dir, all, nil) // less those that exited since the listing
	children := make(map[int][]int)
	scanned := make(map[int]bool, len(stats))
	for _, pid := range all {
		if st, ok := stats[pid]; ok {
			scanned[pid] = true
			children[st.PPID] = append(children[st.PPID], pid)
		}
	}
	s.children, s.scanned, s.scanAt = children, scanned, now
	return stats, children, nil, nil
}

// learnNew adds to the known trees the processes started since the last
// look: it lists /proc (a directory read, no file per process) and reads
// the stat of each pid it does not know, to learn its parent. A worker's
// child that came after the full scan (a gunicorn master replacing a
// worker for max_requests) is so counted at once, not up to
// FullScanEvery later. A known pid missing from the listing is forgotten,
// so a new process that takes its pid later is learnt too. It returns
// the stats it read. Must hold s.mu.
func (s *Sampler) learnNew() (map[int]procfs.ProcStat, error) {
	all, err := listPids(s.root)
	if err != nil {
		return nil, fmt.Errorf("procinfo: list processes in %s: %w", s.root, err)
	}
	listed := make(map[int]bool, len(all))
	var fresh []int
	for _, pid := range all {
		listed[pid] = true
		if !s.scanned[pid] {
			fresh = append(fresh, pid)
		}
	}
	for pid := range s.scanned {
		if !listed[pid] {
			delete(s.scanned, pid)
		}
	}
	stats := readStats(s.dir, fresh, nil)
	for _, pid := range fresh {
		if st, ok := stats[pid]; ok {
			s.scanned[pid] = true
			// A pid that left and came back under the same parent is
			// listed once.
			if !slices.Contains(s.children[st.PPID], pid) {
				s.children[st.PPID] = append(s.children[st.PPID], pid)
			}
		}
	}
	return stats, nil
}
