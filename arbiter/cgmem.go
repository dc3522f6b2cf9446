package arbiter

import (
	"github.com/poold/poold/watcher"
	"github.com/poold/poold/watcher/cgroup"
)

// A worker of a watcher with memory_max runs in a cgroup of its own, and
// the kernel's OOM killer ends it on that cgroup's charge, not on the RSS
// that stats shows: the charge counts page cache, kernel memory and
// everything the worker started, a page shared by a master and its
// forked children once. systemctl status shows it beside the unit's
// MemoryMax= ("Memory: 80.1M (max: 100.0M, peak: 96M)"); poold shows it
// per worker in stats (and the stats stream, the console) and in the
// metrics, beside the limit. Only where poold made that cgroup with a
// memory limit: two small file reads per worker (cgroup
// BenchmarkMemoryRead), made by the reader of a stats command, a
// published stats sample or a scrape, never on the loop, never on an
// idle stats tick.

// CgroupMemory is what ProcInfo adds for a worker under memory_max:
// its cgroup's charge now and its peak since the worker started, bytes,
// and the limit. All are left out for a worker without memory_max; the
// peak where the kernel has none for this worker (cgroup.MemoryUse).
type CgroupMemory struct {
	Current *uint64 `json:"cgroup_memory,omitempty"`
	Peak    *uint64 `json:"cgroup_memory_peak,omitempty"`
	Max     uint64  `json:"memory_max,omitempty"`
}

// readCgroupMemory reads m (the zero CgroupMemory when m reads nothing:
// no memory limit, or the cgroup is gone).
func readCgroupMemory(m cgroup.Memory) CgroupMemory {
	u, ok := m.Read()
	if !ok {
		return CgroupMemory{}
	}
	out := CgroupMemory{Current: &u.Current, Max: u.Max}
	if u.HasPeak {
		out.Peak = &u.Peak
	}
	return out
}

// addTo puts c's fields into a stats stream sample.
func (c CgroupMemory) addTo(f map[string]any) {
	if c.Current == nil {
		return
	}
	f["cgroup_memory"], f["memory_max"] = float64(*c.Current), float64(c.Max)
	if c.Peak != nil {
		f["cgroup_memory_peak"] = float64(*c.Peak)
	}
}

// memoryOf is where the memory of worker pid's cgroup is counted, the
// zero Memory without a memory limit; call it on the loop.
func (a *Arbiter) memoryOf(pid int) cgroup.Memory {
	if g := a.groups[pid]; g != nil {
		return g.Memory()
	}
	return cgroup.Memory{}
}

// memories are memoryOf the workers of procs that have a memory limit,
// by pid; nil when none has. Call it on the loop.
func (a *Arbiter) memories(procs []watcher.Process) map[int]cgroup.Memory {
	var out map[int]cgroup.Memory
	for _, p := range procs {
		if m := a.memoryOf(p.Pid); m.Dir != "" {
			if out == nil {
				out = map[int]cgroup.Memory{}
			}
			out[p.Pid] = m
		}
	}
	return out
}
