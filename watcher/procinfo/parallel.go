package procinfo

import (
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/procfs"
)

// Reading /proc side by side. Each file read is a system call in which the
// kernel formats the process's state, and a sample of thousands of
// processes is little else: the first `stats` of 10,000 workers reads
// 30,000 files. Where there are many, a Sample splits them among a few
// goroutines (one per CPU, at most maxReaders), each with its own buffer,
// and waits for them all before it goes on; what they read is merged and
// used under s.mu as before.

// maxReaders bounds the goroutines of one read; perReader is the fewest
// files worth a goroutine of their own.
const (
	maxReaders = 4
	perReader  = 256
)

// inParallel calls fn(i, pids[i], buf) for every i, from up to maxReaders
// goroutines, each with a buffer of bufSize bytes, and returns when all
// have returned. fn must write only what belongs to i.
func inParallel(pids []int, bufSize int, fn func(i, pid int, buf []byte)) {
	n := min(runtime.GOMAXPROCS(0), maxReaders, max(len(pids)/perReader, 1))
	var wg sync.WaitGroup
	for r := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, bufSize)
			for i := r; i < len(pids); i += n {
				fn(i, pids[i], buf)
			}
		}()
	}
	wg.Wait()
}

// readStats reads the stat of each of pids into out (a new map if nil),
// and returns it; a pid that has exited is left out.
func readStats(d procDir, pids []int, out map[int]procfs.ProcStat) map[int]procfs.ProcStat {
	sts := make([]procfs.ProcStat, len(pids))
	ok := make([]bool, len(pids))
	inParallel(pids, statBufSize, func(i, pid int, buf []byte) {
		st, err := d.stat(pid, buf)
		sts[i], ok[i] = st, err == nil
	})
	if out == nil {
		out = make(map[int]procfs.ProcStat, len(pids))
	}
	for i, pid := range pids {
		if ok[i] {
			out[pid] = sts[i]
		}
	}
	return out
}

// identity is a process's argv and real uid as read from /proc.
type identity struct {
	argv []string
	uid  uint64
	err  error
}

// readIdentityOf reads the argv and owner of pid under d (byPidfd: see
// realUID).
func readIdentityOf(d procDir, pid int, byPidfd bool, buf []byte) identity {
	b, err := d.readWhole(pid, "cmdline", buf)
	if err != nil {
		return identity{err: err}
	}
	argv := parseCmdline(b)
	uid, err := realUID(d, pid, byPidfd, buf)
	return identity{argv: argv, uid: uid, err: err}
}

// identityDue tells whether info must read a process's argv and owner:
// when first seen (or its pid was reused), and once more when it has
// settled (it may set its title or drop privileges as it starts).
func identityDue(ps *tracked, st procfs.ProcStat, age float64) bool {
	return ps == nil || ps.starttime != st.Starttime || !ps.identityDone ||
		(ps.identityAge < identitySettle.Seconds() && age >= identitySettle.Seconds())
}

// ageOf is how long the process of st has run, in seconds.
func ageOf(st procfs.ProcStat, clk clock) float64 {
	return max((clk.sinceBoot - time.Duration(st.Starttime)*(time.Second/userHZ)).Seconds(), 0)
}

// prefetchIdentities reads, side by side, the argv and owner of every
// process the trees of pids will show that info would read one by one,
// and keeps them in s.fetched for it. Must hold s.mu.
func (s *Sampler) prefetchIdentities(pids []int, stats map[int]procfs.ProcStat, children map[int][]int, clk clock) {
	var due []int
	seen := make(map[int]bool, len(pids))
	var visit func(pid, depth int)
	visit = func(pid, depth int) {
		st, ok := stats[pid]
		if seen[pid] || !ok {
			return
		}
		seen[pid] = true
		if identityDue(s.procs[pid], st, ageOf(st, clk)) {
			due = append(due, pid)
		}
		if depth >= maxDepth {
			return
		}
		for _, k := range children[pid] {
			visit(k, depth+1)
		}
	}
	for _, pid := range pids {
		visit(pid, 0)
	}
	if len(due) < 2*perReader {
		return // not worth it: info reads them
	}
	ids := make([]identity, len(due))
	inParallel(due, idBufSize, func(i, pid int, buf []byte) {
		ids[i] = readIdentityOf(s.dir, pid, s.byPidfd, buf)
	})
	s.fetched = make(map[int]identity, len(due))
	for i, pid := range due {
		s.fetched[pid] = ids[i]
	}
}
