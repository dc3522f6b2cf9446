package configs

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
	{key: "pids_max",
		decode: func(d *decoder, k string, raw any, w *Watcher) {
			i, ok := d.integer(k, raw)
			switch {
			case !ok:
			case i < 0:
				d.bad(k, raw, "must be >= 0, got %d", i)
			case i > MaxPidsMax:
				d.bad(k, raw, "must be at most %d, the most pids.max takes (the kernel's PID_MAX_LIMIT), got %d; use 0 for no limit", MaxPidsMax, i)
			default:
				w.PidsMax = int(i)
			}
		},
		wire: func(w *Watcher) any { return w.PidsMax },
	},
	{key: "cpu_max",
		decode: func(d *decoder, k string, raw any, w *Watcher) {
			f, ok := d.percent(k, raw)
			switch {
			case !ok:
			case f < 0 || (f > 0 && f < 1):
				d.bad(k, raw, "must be 0 (no limit) or at least 1 (percent of one core), got %g", f)
			case f > MaxCPUMax:
				d.bad(k, raw, "must be at most %.0f (percent of one core: the largest CPU quota the kernel takes, 2^44-1 µs per 100 ms period), got %g; use 0 for no limit", MaxCPUMax, f)
			default:
				w.CPUMax = f
			}
		},
		wire: func(w *Watcher) any { return w.CPUMax },
	},
}

const (
	// MaxPidsMax is the largest pids.max the kernel takes: PID_MAX_LIMIT
	// on 64-bit Linux (a larger one is EINVAL, so every spawn failed).
	MaxPidsMax = 4 * 1024 * 1024
	// MaxCPUMax is the largest cpu_max whose CFS quota (cpu_max × 1000 µs
	// of a 100 ms period) the kernel takes, 2^44-1 µs (max_cfs_runtime);
	// above it the quota once overflowed to 1 % of a core.
	MaxCPUMax = float64(1<<44-1) / 1000
)

func init() { watcherFields = append(watcherFields, cgroupFields...) }
