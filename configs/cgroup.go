package configs

import "math"

// The cgroup limits of a watcher: each worker gets a cgroup of its own
// (when poold can make cgroups) and these limits apply to it and to
// everything it starts. They need the controller (memory, pids, cpu) in
// cgroup v2, or in cgroup v1 on a hybrid host; a limit poold cannot apply
// is a spawn error that says so.
var cgroupFields = []field[Watcher]{
	{key: "memory_max",
		decode: func(d *decoder, k string, raw any, w *Watcher) {
			if n, ok := d.size(k, raw); ok {
				w.MemoryMax = n
			}
		},
		wire: func(w *Watcher) any { return w.MemoryMax },
	},
	intField("pids_max", func(w *Watcher) *int { return &w.PidsMax }, 0, math.MaxInt32),
	{key: "cpu_max",
		decode: func(d *decoder, k string, raw any, w *Watcher) {
			f, ok := d.percent(k, raw)
			switch {
			case !ok:
			case f < 0 || (f > 0 && f < 1):
				d.bad(k, raw, "must be 0 (no limit) or at least 1 (percent of one core), got %g", f)
			default:
				w.CPUMax = f
			}
		},
		wire: func(w *Watcher) any { return w.CPUMax },
	},
}

func init() { watcherFields = append(watcherFields, cgroupFields...) }
