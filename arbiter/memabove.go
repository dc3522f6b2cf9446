package arbiter

import (
	"fmt"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/cgroup"
)

// memoryMaxAbove says, for each watcher whose memory_max is above limit
// bytes, the memory limit of poold's own cgroup (where, 0: none), that
// its workers meet that lower limit first: an OOM kill there is poold's
// cgroup's, which may take any watcher's worker (or poold), not the
// watcher's own cgroup's (r58b: memory_max 1G under a 400 MiB container
// read as if the worker had reached its 1G).
func memoryMaxAbove(watchers []configs.Watcher, limit int64, where string) []string {
	if limit <= 0 {
		return nil
	}
	var out []string
	for _, w := range watchers {
		if w.MemoryMax > uint64(limit) {
			out = append(out, fmt.Sprintf("watchers.%s.memory_max: %d bytes is above the memory limit of poold's cgroup %s, "+
				"which its workers meet first (an OOM kill there may take any watcher's worker): "+
				"lower memory_max below it, or raise that limit", w.Name, w.MemoryMax, where))
		}
	}
	return out
}

// MemoryMaxWarnings is what a poold started where this process runs
// (poold --check) would warn of: memory_max of watchers above the memory
// limit of its cgroup (memoryMaxAbove).
func MemoryMaxWarnings(watchers []configs.Watcher) []string {
	o := cgroup.OpenOuter()
	return memoryMaxAbove(watchers, o.LimitBytes(), o.Limited())
}

// warnMemoryMaxAbove warns at start of memoryMaxAbove's watchers.
func (a *Arbiter) warnMemoryMaxAbove() {
	for _, w := range memoryMaxAbove(a.cfg.Watchers, a.outer.LimitBytes(), a.outer.Limited()) {
		a.log.Warn("memory_max above the memory limit of poold's own cgroup", "problem", w)
	}
}
