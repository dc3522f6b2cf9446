package arbiter

import (
	"fmt"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/cgroup"
	"github.com/poold/poold/watcher/spawn"
)

// oomBump is how far above poold's own oom_score_adj workers start under
// a memory limit: half the limit, in the OOM killer's points, so that it
// takes a worker before poold unless poold holds more than half of it.
// Less room than that (poold's value above 1000-oomBump, which it could
// not lower) is not said to protect poold.
const oomBump = 500

// oomAdvice is what makes a pod-wide OOM kill a worker rather than poold
// and everything with it.
const oomAdvice = "give every watcher a memory_max so that together they stay below the limit " +
	"(an OOM is then a worker's own cgroup's, and takes that worker only; it needs a writable cgroup filesystem), " +
	"or run the pod in Guaranteed QoS (requests = limits: oom_score_adj -997)"

// guardOOM, under a memory limit of poold's own cgroup (a container's),
// starts workers with a higher oom_score_adj than poold's (spawn.GuardOOM):
// else the OOM killer takes poold, the largest of small processes, and
// every worker with it. It says at start what protects poold, and warns
// where nothing does (oomRisks).
func (a *Arbiter) guardOOM() {
	limited, group := a.outer.Limited(), a.outer.OOMGroup()
	if limited == "" && group == "" {
		return
	}
	var sc spawn.OOMScores
	var err error
	if limited != "" {
		sc, err = a.spawner.GuardOOM(oomBump)
	}
	for _, r := range oomRisks(limited, a.outer.LimitBytes(), group, sc, err, a.cfg.Watchers) {
		if r.warn {
			a.log.Warn(r.msg, r.kv...)
		} else {
			a.log.Info(r.msg, r.kv...)
		}
	}
	if limited != "" && err == nil {
		// The watchers' own values: noteOOMAdj, once they are added,
		// and after each command.
		a.oomLimited, a.oomOwn = limited, sc.Own
	}
}

// OOMWarnings is what guardOOM would warn of for a poold started where
// this process runs (poold --check in the container), for watchers: it
// asks the kernel whether it could lower its own oom_score_adj, and puts
// it back.
func OOMWarnings(watchers []configs.Watcher) []string {
	o := cgroup.OpenOuter()
	limited, group := o.Limited(), o.OOMGroup()
	if limited == "" && group == "" {
		return nil
	}
	var sc spawn.OOMScores
	var err error
	if limited != "" {
		sc, err = spawn.ReadOOMScores(oomBump, false)
	}
	var out []string
	for _, r := range oomRisks(limited, o.LimitBytes(), group, sc, err, watchers) {
		if r.warn {
			out = append(out, r.String())
		}
	}
	if limited != "" && err == nil {
		for _, r := range oomAdjRisks(watchers, sc.Own, limited) {
			out = append(out, r.warning)
		}
	}
	return out
}

// oomRisk is one line guardOOM logs.
type oomRisk struct {
	warn bool
	msg  string
	kv   []any
}

// String is the line as --check prints it.
func (r oomRisk) String() string {
	s := r.msg
	for i := 0; i+1 < len(r.kv); i += 2 {
		s += fmt.Sprintf(" %v=%v", r.kv[i], r.kv[i+1])
	}
	return s
}

// oomRisks words what protects poold from an OOM kill of the cgroup it
// runs in, and what does not: limited is that cgroup with its limit ("" for
// none) of limit bytes, group its memory.oom.group file when it holds 1,
// sc and err what spawn.GuardOOM found and did. Workers less than oomBump
// above poold (a Burstable pod's poold at 985, which it could not lower,
// gives workers 1000: 15 points, 1.5 % of the limit) do not protect it.
// The watchers with an oom_score_adj of their own keep it, which the
// start line names (oomAdjRisks warns of those it puts at risk).
func oomRisks(limited string, limit int64, group string, sc spawn.OOMScores, err error, watchers []configs.Watcher) []oomRisk {
	var out []oomRisk
	if group != "" {
		out = append(out, oomRisk{true, "poold's cgroup has memory.oom.group = 1 (kubelet's default on cgroup v2 since Kubernetes 1.28): " +
			"an OOM kill in it kills poold and every worker at once, whatever their oom_score_adj; " + oomAdvice +
			", or set kubelet's singleProcessOOMKill: true", []any{"file", group}})
	}
	if limited == "" {
		return out
	}
	margin := sc.Workers - sc.Own
	kv := []any{"cgroup", limited, "poold_oom_score_adj", sc.Own, "workers_oom_score_adj", sc.Workers}
	if sc.Lowered {
		kv = append(kv, "poold_lowered_from", sc.LoweredFrom)
	}
	switch {
	case err != nil:
		return append(out, oomRisk{true, "under a memory limit, but poold cannot give its workers a higher oom_score_adj: " +
			"the OOM killer may take poold, and every worker with it, before a worker; " + oomAdvice,
			[]any{"cgroup", limited, "error", err}})
	case margin < oomBump:
		kv = append(kv, "margin_bytes", int64(margin)*limit/1000)
		if sc.LowerErr != nil {
			kv = append(kv, "cannot_lower", sc.LowerErr)
		}
		return append(out, oomRisk{true, fmt.Sprintf("under a memory limit, but workers start only %d above poold's oom_score_adj "+
			"(a Burstable or BestEffort pod's value, which poold could not lower without CAP_SYS_RESOURCE): "+
			"the OOM killer takes poold, and every worker with it, once poold holds margin_bytes more than the largest worker; ", margin) + oomAdvice, kv})
	}
	msg := "under a memory limit: workers start with an oom_score_adj 500 above poold's, " +
		"so the OOM killer takes a worker before poold unless poold holds over half the limit"
	if own := ownOOMAdj(watchers); own != "" {
		msg = "under a memory limit: workers start with an oom_score_adj 500 above poold's, " +
			"so the OOM killer takes a worker before poold unless poold holds over half the limit, " +
			"except those of the watchers with an oom_score_adj of their own (watchers_own_oom_score_adj), which keep it"
		kv = append(kv, "watchers_own_oom_score_adj", own)
	}
	return append(out, oomRisk{false, msg, kv})
}
