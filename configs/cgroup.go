package configs

import (
	"fmt"
	"strings"
)

// The cgroup limits of a watcher: each worker gets a cgroup of its own
// (when poold can make cgroups) and these limits apply to it and to
// everything it starts. They need the controller (memory, pids, cpu) in
// cgroup v2, or in cgroup v1 on a hybrid host; a limit poold cannot apply
// is a spawn error that says so.
var cgroupFields = []field[Watcher]{
	{key: "memory_max",
		decode: func(d *decoder, k string, raw any, w *Watcher) {
			n, ok := d.size(k, raw)
			switch {
			case !ok:
			case n > 0 && n < MinMemoryMax:
				d.bad(k, raw, "%s", memoryFloorProblem(raw, n))
			default:
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

// memoryFloorProblem says why memory_max n (from raw) is refused, with
// a hint for a plain number, which is bytes.
func memoryFloorProblem(raw any, n uint64) string {
	msg := fmt.Sprintf(`must be 0 (no limit) or at least %d bytes ("1M"): no worker starts in less, got %d bytes`, MinMemoryMax, n)
	if text, ok := raw.(string); !ok || strings.Trim(strings.TrimSpace(text), "0123456789") == "" {
		return msg + fmt.Sprintf(`; a plain number is bytes: for %d MiB write "%dM"`, n, n)
	}
	return msg + `; write a size such as "512M"`
}

const (
	// MinMemoryMax is the least memory_max poold takes, 1 MiB. Less is a
	// slip (memory_max = 512, meant as MiB): /bin/sleep needs about
	// 256 KiB to start in a memory cgroup and Python 3 about 3 MiB
	// (measured, cgroup v1, warm page cache), and on cgroup v1 a poold
	// before r58 forked inside that cgroup and was OOM-killed with all
	// its workers. Docker refuses a memory limit under 6 MiB.
	MinMemoryMax = 1 << 20
	// MaxPidsMax is the largest pids.max the kernel takes: PID_MAX_LIMIT
	// on 64-bit Linux (a larger one is EINVAL, so every spawn failed).
	MaxPidsMax = 4 * 1024 * 1024
	// MaxCPUMax is the largest cpu_max whose CFS quota (cpu_max × 1000 µs
	// of a 100 ms period) the kernel takes, 2^44-1 µs (max_cfs_runtime);
	// above it the quota once overflowed to 1 % of a core.
	MaxCPUMax = float64(1<<44-1) / 1000
)

func init() { watcherFields = append(watcherFields, cgroupFields...) }
