package cgroup

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Outer is the memory cgroup poold itself runs in: a container's, a
// systemd unit's (MemoryMax=), a throwaway one of a test. When that
// cgroup runs out of memory the kernel's OOM killer takes one of its
// processes, most often the largest worker, which has no memory_max of
// its own and so no count of its own cgroup to tell it by: without Outer
// its end reads "killed by signal KILL", like an operator's kill -9.
// Outer reads the OOM kill counters of poold's own memory cgroup (v2
// memory.events, which counts the kills in every cgroup below it, the
// workers' included; v1 memory.oom_control, which counts those of the
// processes in it: workers without a memory_max of their own).
//
// It needs no write access and no containment of poold's own: a poold
// run as an unprivileged user, which cannot make cgroups, reads them too.
//
// Concurrency: Claim and Observe may be called from any goroutine.
type Outer struct {
	files []outerFile
	now   func() time.Time

	mu      sync.Mutex
	seen    int       // the total at the last look (Claim, Observe, OpenOuter)
	fresh   int       // kills counted at a look less than claimWindow ago, not claimed
	freshAt time.Time // that look
	// lost counts the kills no Claim took within claimWindow: of no
	// worker, so of a worker's child (a gunicorn worker), which Observe
	// hands over to be reported.
	lost int
	// Looks are shared (see fresh): begun counts those started, taken
	// those whose counts are taken in; lookDone, while one reads the
	// files with mu released, is closed when it has been taken in.
	begun, taken uint64
	lookDone     chan struct{}
	waiting      int        // callers waiting for a look (tests)
	read         func() int // tests: instead of total
}

// claimWindow is how long after poold first counted an OOM kill a
// SIGKILLed worker may be told it was that kill. A worker the OOM killer
// takes is reaped within milliseconds; a kill counted longer ago was of a
// worker's child, and claiming it for the next SIGKILL, an operator's
// kill -9 minutes later, would call that an OOM kill.
const claimWindow = time.Second

type outerFile struct {
	dir, name string // the cgroup directory and the file with oom_kill
	limit     string // the file with its limit
}

// OpenOuter finds poold's own memory cgroups from /proc/self/cgroup and
// /proc/self/mountinfo and reads their counters once. A nil Outer (none
// found: no memory controller, or poold in the root cgroup) claims
// nothing.
func OpenOuter() *Outer {
	var o Outer
	if dir, _, err := Own(); err == nil {
		if _, err := os.Stat(filepath.Join(dir, "memory.events")); err == nil {
			o.files = append(o.files, outerFile{dir: dir, name: "memory.events", limit: "memory.max"})
		}
	}
	for _, h := range findV1() {
		if h.ctrl == "memory" {
			if _, err := os.Stat(filepath.Join(h.own, "memory.oom_control")); err == nil {
				o.files = append(o.files, outerFile{dir: h.own, name: "memory.oom_control", limit: "memory.limit_in_bytes"})
			}
		}
	}
	if len(o.files) == 0 {
		return nil
	}
	o.now = time.Now
	o.seen = o.total()
	return &o
}

func (o *Outer) total() int {
	n := 0
	var buf [statusMax]byte
	for _, f := range o.files {
		if b, err := readStatus(filepath.Join(f.dir, f.name), &buf); err == nil {
			n += keyed(b, "oom_kill")
		}
	}
	return n
}

// Observe looks at the counters, so that a kill counted now may be
// claimed only within claimWindow (the loop calls it on its tick). It
// returns how many kills no worker's end claimed within claimWindow
// since the last Observe: processes of poold's cgroup that were no
// worker (a worker's child), which nothing else would tell of (r62 M1).
func (o *Outer) Observe() int {
	if o == nil {
		return 0
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.look()
	n := o.lost
	o.lost = 0
	return n
}

// look returns, with mu held as on entry, once a look at the counters
// begun after it was called has been taken in. Callers that come while
// a look reads the files wait for the next one, which serves them all:
// a burst of 100 SIGKILLed workers reads the files twice, not 100 times
// one after another, and still no kill counted before a Claim is missed.
func (o *Outer) look() {
	need := o.begun + 1
	for o.taken < need {
		if done := o.lookDone; done != nil {
			o.waiting++
			o.mu.Unlock()
			<-done
			o.mu.Lock()
			o.waiting--
			continue
		}
		o.begun++
		n, done := o.begun, make(chan struct{})
		o.lookDone = done
		now := o.now()
		read := o.total
		if o.read != nil {
			read = o.read
		}
		o.mu.Unlock()
		total := read()
		o.mu.Lock()
		o.takeIn(now, total)
		o.taken, o.lookDone = n, nil
		close(done)
	}
}

// takeIn takes in the total of a look made at now: the kills counted
// since the last look, and forgets those taken in more than claimWindow
// ago.
func (o *Outer) takeIn(now time.Time, n int) {
	if now.Sub(o.freshAt) > claimWindow {
		o.lost += o.fresh
		o.fresh = 0
	}
	if n > o.seen {
		o.fresh += n - o.seen
		o.freshAt = now
	}
	o.seen = n // also when it went back: a cgroup made again
}

// Claim is called for a worker killed by SIGKILL. When the OOM killer of
// poold's memory cgroup killed a process since the last look, or within
// claimWindow before, it says which cgroup and its limit ("poold's
// cgroup /sys/fs/cgroup/x (memory limit 104857600 bytes)"), and that
// kill is claimed; otherwise "". The kill counted may have been of
// another process of that cgroup (a worker's child) just before, which a
// SIGKILL of a worker at that moment rarely is not.
func (o *Outer) Claim() string {
	if o == nil {
		return ""
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.look()
	if o.fresh == 0 {
		return ""
	}
	o.fresh--
	var parts []string
	for _, f := range o.files {
		parts = append(parts, "poold's cgroup "+f.dir+" ("+limitOf(filepath.Join(f.dir, f.limit))+")")
	}
	return strings.Join(parts, ", ")
}

// Consume takes n OOM kills that a worker's own cgroup counted (its
// memory_max) out of those a Claim may take, and Observe report: cgroup v2's memory.events of
// poold's cgroup counts them too, and a SIGKILL of another worker just
// after must not be told it was one. cgroup v1's memory.oom_control
// counts only the kills of processes in poold's own cgroup, so there is
// nothing to take there.
func (o *Outer) Consume(n int) {
	if o == nil || n <= 0 || !o.countsBelow() {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.look()
	took := min(n, o.fresh)
	o.fresh -= took
	o.lost -= min(n-took, o.lost)
}

// countsBelow says whether a counter of o counts the OOM kills of the
// cgroups below poold's (v2's memory.events does, v1's does not).
func (o *Outer) countsBelow() bool {
	for _, f := range o.files {
		if f.name == "memory.events" {
			return true
		}
	}
	return false
}

// Limited says which of poold's memory cgroups has a memory limit
// ("/sys/fs/cgroup/x (memory limit N bytes)"), "" for none.
func (o *Outer) Limited() string {
	if o == nil {
		return ""
	}
	for _, f := range o.files {
		if l := limitOf(filepath.Join(f.dir, f.limit)); strings.HasPrefix(l, "memory limit ") && l != "memory limit unknown" {
			return f.dir + " (" + l + ")"
		}
	}
	return ""
}

// limitOf says the memory limit in file: "memory limit N bytes", or
// "no memory limit" for none ("max", or v1's page-rounded maximum).
func limitOf(file string) string {
	b, err := os.ReadFile(file)
	if err != nil {
		return "memory limit unknown"
	}
	s := strings.TrimSpace(string(b))
	n, err := strconv.ParseUint(s, 10, 64)
	if s == "max" || (err == nil && n >= 1<<62) {
		return "no memory limit: the machine ran out of memory"
	}
	if err != nil {
		return "memory limit " + s
	}
	return fmt.Sprintf("memory limit %d bytes", n)
}
