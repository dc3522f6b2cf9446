package arbiter

// The stats stream (PROTOCOL.md section 3): what RunStats publishes every
// interval off the loop, and the samples the resource limits need when
// nobody listens. The stats command and the rows it reads are stats.go.

import (
	"context"
	"os"
	"strconv"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher"
	"github.com/poold/poold/watcher/procinfo"
)

// RunStats publishes the stats stream (PROTOCOL.md section 3) on bus every
// interval, or every arbiter.stats_interval of the last config reload,
// until ctx is done or the arbiter has stopped, whether or not anyone
// listens. /proc is read here, never on the loop.
func (a *Arbiter) RunStats(ctx context.Context, interval time.Duration, bus *events.Bus) error {
	return a.RunStatsWhen(ctx, interval, bus, nil)
}

// RunStatsWhen is RunStats that reads /proc only while something needs
// it, so that an idle poold costs next to nothing: each tick it publishes
// the stream only if wanted() (someone subscribes to the stats endpoint, a
// console is open; nil means always), and otherwise samples only the
// workers of watchers with a resource limit (max_rss, max_cpu), whose
// checks need a sample every interval. Each tick also reads the OOM
// counters of the workers of watchers with a memory_max (oomchild.go).
// With none of these, a tick reads four flags and sleeps again, without
// waking the loop, and the ticks back off
// to one every idleChecks intervals. The stats command and metrics scrapes
// sample on their own, when asked.
func (a *Arbiter) RunStatsWhen(ctx context.Context, interval time.Duration, bus *events.Bus, wanted func() bool) error {
	if interval <= 0 {
		interval = time.Second
	}
	if _, instance := bus.Position(); instance == "" {
		// The stats stream's messages carry seq and, as the events do,
		// instance: a subscriber that sees it change knows the seq
		// began again at 1. The stats bus starts afresh with each
		// poold process (an in-place upgrade included, which keeps
		// the events' seq and instance), so it has an instance of its
		// own.
		bus.SetInstance(events.NewInstance())
	}
	wait := interval
	var escapes escapeWatch // lookForEscapes'
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-a.done:
			return nil
		case <-a.statsChanged:
			// A reload changed arbiter.stats_interval.
			if d := time.Duration(a.statsEvery.Load()); d > 0 && d != interval {
				interval, wait = d, d
				t.Reset(d)
			}
			continue
		case <-t.C:
		}
		a.lookForEscapes(ctx, &escapes)
		if a.statsTick(ctx, bus, wanted) {
			wait = interval
		} else {
			// Nothing to do: check less and less often, up to
			// idleChecks intervals, so an idle poold rarely wakes.
			wait = min(2*wait, idleChecks*interval)
		}
		t.Reset(wait)
	}
}

// idleChecks bounds the back-off of RunStatsWhen while nothing needs a
// sample: a stats subscriber or console that arrives waits at most this
// many intervals for its first sample.
const idleChecks = 4

// statsTick does one tick's work and reports whether there was any.
func (a *Arbiter) statsTick(ctx context.Context, bus *events.Bus, wanted func() bool) bool {
	looked := a.lookForChildOOM(ctx)
	if wanted == nil || wanted() {
		if snap, err := a.Snapshot(ctx); err == nil {
			a.publishStats(bus, snap)
		}
		return true
	}
	if !a.limits.Load() {
		return looked
	}
	if rows := a.limitedRows(ctx); len(rows) > 0 {
		a.post(sampledMsg{a.sample(rows)})
	}
	return true
}

// noteLimits records whether any watcher has a resource limit; the loop
// calls it at start and after each command and config reload, the only
// things that change a watcher's spec.
func (a *Arbiter) noteLimits() {
	has := false
	for _, w := range a.watchers {
		if spec := w.Spec(); spec.MaxRSS > 0 || spec.MaxCPU > 0 {
			has = true
			break
		}
	}
	a.limits.Store(has)
	a.noteMemoryLimits()
	cg := false
	for _, w := range a.watchers {
		cg = cg || hasCgroupLimit(w.Spec())
	}
	a.cgroupLimits.Store(cg)
	a.noteOOMAdj()
}

// hasCgroupLimit says whether a watcher's workers have a limit in their
// cgroup, which they escape by leaving it (escape.go).
func hasCgroupLimit(spec configs.Watcher) bool {
	return spec.MemoryMax > 0 || spec.PidsMax > 0 || spec.CPUMax > 0
}

// limitedCgroup is hasCgroupLimit of a watcher, for sorted.
func limitedCgroup(w *watcher.Watcher) bool { return hasCgroupLimit(w.Spec()) }

// limitedRows lists the processes of the watchers that have a resource
// limit; nil when none has (or the loop has ended).
func (a *Arbiter) limitedRows(ctx context.Context) []procRow {
	c := make(chan []procRow, 1)
	if !a.postCtx(ctx, funcMsg{func() {
		var rows []procRow
		for _, w := range a.watchers {
			if spec := w.Spec(); spec.MaxRSS > 0 || spec.MaxCPU > 0 {
				rows = append(rows, a.rows([]*watcher.Watcher{w})...)
			}
		}
		c <- rows
	}}) {
		return nil
	}
	select {
	case rows := <-c:
		return rows
	case <-ctx.Done():
		return nil
	case <-a.stopped:
		return nil
	}
}

func (a *Arbiter) publishStats(bus *events.Bus, snap Snapshot) {
	rows := rowsOf(snap)
	sampled := a.sample(rows)
	// Resource limits are judged on the loop from the same sample.
	a.post(sampledMsg{sampled})
	per := map[string][]procinfo.Info{}
	for _, r := range rows {
		in := info(r, sampled)
		per[r.watcher] = append(per[r.watcher], in.Info)
		f := in.Info.Map()
		f["state"], f["restarts"] = in.State, float64(in.Restarts)
		if in.KillIn != nil {
			f["kill_in"] = *in.KillIn
		}
		in.CgroupMemory.addTo(f)
		f["subtopic"] = r.proc.Pid
		// null, as circusd-stats sends for a worker (circus-top then
		// shows the pid alone); the watcher is in the topic.
		f["name"] = nil
		bus.PublishTopic("stat."+events.TopicName(r.watcher)+"."+strconv.Itoa(r.proc.Pid), r.watcher, "stat", f)
	}
	for _, w := range snap.Watchers {
		if len(per[w.Name]) == 0 {
			// None of its workers runs (stopped, or every slot
			// waiting): circusd-stats publishes nothing for it, and
			// an aggregate of no pids at 0 % CPU looks alive to
			// circus-top and to a stats consumer.
			continue
		}
		agg := procinfo.Aggregate(per[w.Name])
		agg["name"] = w.Name
		bus.PublishTopic("stat."+events.TopicName(w.Name), w.Name, "stat", agg)
	}
	if self, err := a.opts.Stats.Self(); err == nil {
		pid := strconv.Itoa(os.Getpid())
		for _, topic := range []string{"stat.poold", "stat.circus"} {
			f := self.Map()
			f["name"] = "poold"
			f["subtopic"] = os.Getpid()
			bus.PublishTopic(topic+"."+pid, "", "stat", f)
			// The aggregate too, as circusd-stats publishes for every
			// watcher and for circus: circus-top cannot paint a group
			// without it.
			agg := procinfo.Aggregate([]procinfo.Info{self})
			agg["name"] = "poold"
			bus.PublishTopic(topic, "", "stat", agg)
		}
	}
	var addrs []string
	reads := 0
	for _, s := range snap.Sockets {
		addr := sockAddr(s.Info)
		addrs = append(addrs, addr)
		reads += s.Queued
		bus.PublishTopic("stat.sockets."+strconv.Itoa(s.FD), "", "stat", map[string]any{
			"fd": s.FD, "subtopic": s.FD, "address": addr, "reads": s.Queued, "name": s.Name,
			"queue": s.Queued, "queue_limit": s.QueueLimit, "poold_fd": s.PooldFD,
		})
	}
	if len(snap.Sockets) > 0 {
		bus.PublishTopic("stat.sockets", "", "stat", map[string]any{"addresses": addrs, "reads": reads})
	}
}

func sockAddr(s map[string]any) string {
	if p, ok := s["path"]; ok {
		return "unix:" + p.(string)
	}
	host, _ := s["host"].(string)
	port, _ := s["port"].(int)
	if len(host) > 0 && host[0] != '[' && containsColon(host) {
		host = "[" + host + "]"
	}
	return host + ":" + strconv.Itoa(port)
}

func containsColon(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == ':' {
			return true
		}
	}
	return false
}

// socketRows is the stats reply's sockets field: each listening socket's
// accept queue (length and limit).
func socketRows(socks []SocketSnapshot) []map[string]any {
	out := make([]map[string]any, 0, len(socks))
	for _, s := range socks {
		out = append(out, map[string]any{
			"name": s.Name, "fd": s.FD, "poold_fd": s.PooldFD, "address": sockAddr(s.Info), "queue": s.Queued, "queue_limit": s.QueueLimit,
		})
	}
	return out
}
