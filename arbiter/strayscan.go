package arbiter

import "sync"

// strayScans shares the scans of poold's children among the ends of
// workers without a cgroup. A scan reads every child's /proc entry: at
// one scan per end (and one more each groupPoll while strays remain),
// stopping 3,000 workers cost poold 432 CPU ticks instead of 29, and
// 10,000 some 45 s of CPU. An end needs a scan that began after it asks,
// so that a stray the kernel reparented to poold as the worker died is
// in it; every end that asks while one scan runs shares the next, so a
// burst of ends costs a few scans, not one each.
type strayScans struct {
	mu      sync.Mutex
	cond    sync.Cond
	started uint64 // scans begun
	done    uint64 // the scan whose result list holds
	running bool
	list    []stray // read-only once stored
	count   uint64  // scans run, for the tests
	waiting int     // callers waiting for a scan, for the tests
}

// get returns the strays of a scan that began after get was called,
// running one when no other caller does; scan is a.strayList.
func (sc *strayScans) get(scan func() []stray) []stray {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.cond.L == nil {
		sc.cond.L = &sc.mu
	}
	// The running scan (if any) began before this call: the next one.
	need := sc.started + 1
	for sc.done < need {
		if sc.running {
			sc.waiting++
			sc.cond.Wait()
			sc.waiting--
			continue
		}
		sc.running = true
		sc.started++
		gen := sc.started
		sc.mu.Unlock()
		list := scan()
		sc.mu.Lock()
		sc.list, sc.done, sc.running = list, gen, false
		sc.count++
		sc.cond.Broadcast()
	}
	return sc.list
}

// scans is how many scans have run.
func (sc *strayScans) scans() uint64 {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return sc.count
}
