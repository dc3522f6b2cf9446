package configs

import (
	"strconv"
	"strings"
)

// ReadyMin is ready_min: how many ready workers make a watcher ready for
// poold's readiness (/readyz, systemd's READY=1), as a number of workers
// or a share of numprocesses. The zero value, the default, is every
// worker: a pool of 4 with one slot that cannot start is not ready.
type ReadyMin struct {
	N       int  // workers, or a percentage with Percent
	Percent bool // N is a share of numprocesses, in percent
}

// Set says whether ready_min was given.
func (r ReadyMin) Set() bool { return r.N > 0 }

// Of is how many ready workers of a watcher of target workers make it
// ready: target when unset; a share rounded up, at least 1; never more
// than target.
func (r ReadyMin) Of(target int) int {
	switch {
	case !r.Set() || target <= 0:
		return max(target, 0)
	case r.Percent:
		return min(max((target*r.N+99)/100, 1), target)
	}
	return min(r.N, target)
}

// String is the wire form: "3", "75%", "" when unset.
func (r ReadyMin) String() string {
	switch {
	case !r.Set():
		return ""
	case r.Percent:
		return strconv.Itoa(r.N) + "%"
	}
	return strconv.Itoa(r.N)
}

var readyMinField = field[Watcher]{key: "ready_min",
	decode: func(d *decoder, k string, raw any, w *Watcher) {
		const want = "must be a number of ready workers (3) or a share of numprocesses (\"75%%\"), at least 1, or \"\" for every worker; got %s"
		if i, ok := asInt(raw); ok {
			if i < 1 || i > 1<<31-1 {
				d.bad(k, raw, want, describe(raw))
				return
			}
			w.ReadyMin = ReadyMin{N: int(i)}
			return
		}
		s, ok := d.str(k, raw)
		if !ok {
			return
		}
		s = strings.TrimSpace(s)
		if s == "" {
			w.ReadyMin = ReadyMin{}
			return
		}
		num, pct := strings.CutSuffix(s, "%")
		n, err := strconv.Atoi(strings.TrimSpace(num))
		if err != nil || n < 1 || (pct && n > 100) {
			d.bad(k, raw, want, strconv.Quote(s))
			return
		}
		w.ReadyMin = ReadyMin{N: n, Percent: pct}
	},
	wire: func(w *Watcher) any { return w.ReadyMin.String() },
}
