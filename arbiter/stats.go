package arbiter

import (
	"context"
	"maps"
	"os"
	"strconv"
	"time"

	"github.com/poold/poold/arbiter/logsink"
	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher"
	"github.com/poold/poold/watcher/cgroup"
	"github.com/poold/poold/watcher/procinfo"
)

// procRow is what the loop knows of one process; it is merged with what
// the sampler reads from /proc outside the loop.
type procRow struct {
	watcher string
	proc    watcher.Process
	// cgroup is the worker's own cgroup (its v2 directory), "" without
	// one: its members count in the worker's tree (members.go).
	cgroup string
	// mem is where its cgroup's memory is counted (cgmem.go); zero
	// without a memory_max.
	mem cgroup.Memory
}

// rows lists the processes of ws; call it on the loop. The list is made
// its full size at once: grown by appends, the rows of 10,000 workers
// took the loop twice the memory, faulted in by the first `stats`.
func (a *Arbiter) rows(ws []*watcher.Watcher) []procRow {
	procs := make([][]watcher.Process, len(ws))
	n := 0
	for i, w := range ws {
		procs[i] = w.Processes()
		n += len(procs[i])
	}
	rows := make([]procRow, 0, n)
	for i, w := range ws {
		for _, p := range procs[i] {
			rows = append(rows, procRow{w.Name(), p, a.cgroupDir(p.Pid), a.memoryOf(p.Pid)})
		}
	}
	return rows
}

// cgroupDir is the directory of worker pid's own cgroup, "" without one;
// call it on the loop.
func (a *Arbiter) cgroupDir(pid int) string {
	if g := a.groups[pid]; g != nil {
		return g.Dir
	}
	return ""
}

// ProcInfo is the process info object of PROTOCOL.md with what poold adds:
// the worker's state and how often its slot was restarted.
type ProcInfo struct {
	procinfo.Info
	State    string `json:"state"`
	Restarts int    `json:"restarts"`
	// Recycle: a worker marked to be replaced (max_age, health, limit)
	// that still runs; status NAME's slot says whether its replacement
	// waits for a wid.
	Recycle bool `json:"recycle,omitempty"`
	// KillIn: a worker being stopped (draining), the seconds left before
	// poold SIGKILLs it if it has not ended by then.
	KillIn *float64 `json:"kill_in,omitempty"`
	// The memory its cgroup is charged, for a worker under memory_max.
	CgroupMemory
}

// info builds the process info object for one row. A process that is gone
// from /proc (it just exited) still gets what the loop knows.
func info(r procRow, sampled map[int]procinfo.Info) ProcInfo {
	in, ok := sampled[r.proc.Pid]
	if !ok {
		in = procinfo.Info{PID: r.proc.Pid, Children: []procinfo.Info{}}
		in.Age = procinfo.Float(time.Since(r.proc.Started).Seconds())
		in.CreateTime = procinfo.Float(float64(r.proc.Started.UnixNano()) / 1e9)
	}
	in.WID = r.proc.Wid
	in.Started = float64(r.proc.Started.UnixNano()) / 1e9
	out := ProcInfo{Info: in, State: r.proc.State, Restarts: r.proc.Restarts, Recycle: r.proc.Recycle && r.proc.State == watcher.ProcReady,
		CgroupMemory: readCgroupMemory(r.mem)}
	if at := r.proc.KillAt(); !at.IsZero() {
		left := killIn(at, time.Now())
		out.KillIn = &left
	}
	return out
}

func (a *Arbiter) sample(rows []procRow) map[int]procinfo.Info {
	pids := make([]int, len(rows))
	for i, r := range rows {
		pids[i] = r.proc.Pid
	}
	sampled, err := a.opts.Stats.SampleWith(pids, a.members(rows))
	if err != nil {
		a.log.Warn("sampling worker statistics failed", "error", err)
	}
	return sampled
}

// sampleAsked is sample, with every process's open file descriptors and
// their limit when extended (stats --extended): a readdir per process,
// done only for a command that asks, never on the stats tick.
func (a *Arbiter) sampleAsked(rows []procRow, extended bool) map[int]procinfo.Info {
	sampled := a.sample(rows)
	if extended {
		a.opts.Stats.AddFDs(sampled)
	}
	return sampled
}

// deferReply answers m with a reply that fn completes in the caller's
// goroutine: the loop gathers pids, the caller reads /proc.
func deferReply(m *cmdMsg, fn func() (map[string]any, error)) {
	id := m.req.ID
	m.send(answer{finish: func() Reply {
		fields, err := fn()
		if err != nil {
			return Fail(id, err)
		}
		return OK(id, fields)
	}})
}

// infosByWatcher is the infos of a `stats` of every watcher: each
// watcher's map made at its size, for a ProcInfo is some 500 bytes and
// a map of 10,000 grown by rehashes allocated (and the first call after
// an idle spell faulted in) twice what it ends with.
func infosByWatcher(names []string, rows []procRow, sampled map[int]procinfo.Info) map[string]map[string]ProcInfo {
	count := make(map[string]int, len(names))
	for _, r := range rows {
		count[r.watcher]++
	}
	infos := make(map[string]map[string]ProcInfo, len(names))
	for _, n := range names {
		infos[n] = make(map[string]ProcInfo, count[n])
	}
	for _, r := range rows {
		infos[r.watcher][strconv.Itoa(r.proc.Pid)] = info(r, sampled)
	}
	return infos
}

func cmdStats(a *Arbiter, m *cmdMsg) error {
	p := m.props()
	ext, err := p.boolean("extended", false)
	if err != nil {
		return err
	}
	if !p.has("name") {
		rows := a.rows(a.sorted(nil))
		names := a.names()
		socks := socketRows(a.snapshotSockets())
		at := a.atSeq(map[string]any{})
		deferReply(m, func() (map[string]any, error) {
			infos := infosByWatcher(names, rows, a.sampleAsked(rows, ext))
			// poold's additions: each listening socket's accept queue,
			// the seq the pids reflect.
			at["infos"], at["sockets"] = infos, socks
			return at, nil
		})
		return nil
	}
	w, err := a.watcherProp(m)
	if err != nil {
		return err
	}
	rows := a.rows([]*watcher.Watcher{w})
	pid, err := p.integer("process", 0)
	if err != nil {
		return err
	}
	if pid != 0 {
		if !w.Has(pid) {
			return noSuchPid("stats", w, pid)
		}
		for _, r := range rows {
			if r.proc.Pid == pid {
				rows = []procRow{r}
				break
			}
		}
	}
	// name and process are echoed as sent, as circusd does: "MyApp" or
	// "myapp", "7928" or 7928.
	name, process := p.p["name"], p.p["process"]
	at := a.atSeq(map[string]any{})
	deferReply(m, func() (map[string]any, error) {
		sampled := a.sampleAsked(rows, ext)
		if pid != 0 {
			at["process"], at["info"] = process, info(rows[0], sampled)
			return at, nil
		}
		infos := make(map[string]ProcInfo, len(rows))
		for _, r := range rows {
			infos[strconv.Itoa(r.proc.Pid)] = info(r, sampled)
		}
		at["name"], at["info"] = name, infos
		return at, nil
	})
	return nil
}

func cmdDstats(a *Arbiter, m *cmdMsg) error {
	deferReply(m, func() (map[string]any, error) {
		self, err := a.opts.Stats.Self()
		if err != nil {
			return nil, errorf(ErrnoOS, "dstats: %v", err)
		}
		info := self.Map()
		maps.Copy(info, a.logStats())
		if a.opts.Streams != nil {
			maps.Copy(info, a.opts.Streams())
		}
		return map[string]any{"info": info}, nil
	})
	return nil
}

// stalledAfter is how long a write to stderr may take before dstats calls
// stderr blocked.
const stalledAfter = time.Second

// logStats are the counters of poold's own log output (none without a
// sink), as dstats and globaloptions show them: lines written and dropped,
// records queued, how long the write in progress has been blocked
// (seconds), and log_stderr: "ok", "blocked", "failing" (writes fail at
// once: a full disk) or "gone" (the reader went away: nothing is written
// any more). Safe off the loop.
func (a *Arbiter) logStats() map[string]any {
	if a.opts.Logs == nil {
		return nil
	}
	return logStatsOf(a.opts.Logs.Stats())
}

// logCounters are output.logCounters with, for a watcher that lost
// lines on the "stderr" sink, the sink's state now (stderr_sink: ok,
// blocked, failing, gone) and stderr_full when its writes fail on a full
// file system, so that poolctl status names the cause: free space, or a
// reader that does not read.
func (a *Arbiter) logCounters() map[string]any {
	logs := a.output.logCounters()
	if a.opts.Logs == nil {
		return logs
	}
	state := logStatsOf(a.opts.Logs.Stats())["log_stderr"]
	full := configs.DiskFull(a.opts.Logs.Failure())
	for _, v := range logs {
		c, _ := v.(map[string]any)
		if c == nil || (!positive(c["dropped_queue"]) && !positive(c["dropped_stderr"])) {
			continue
		}
		c["stderr_sink"] = state
		if full {
			c["stderr_full"] = true
		}
	}
	return logs
}

// positive tells whether a counter of logCounters is above 0.
func positive(v any) bool {
	switch n := v.(type) {
	case uint64:
		return n > 0
	case float64:
		return n > 0
	}
	return false
}

// logStatsOf words st as logStats does.
func logStatsOf(st logsink.Stats) map[string]any {
	state := "ok"
	switch {
	case st.Gone:
		state = "gone"
	case st.Stalled >= stalledAfter:
		state = "blocked"
	case st.Failing:
		state = "failing"
	}
	return map[string]any{
		"log_written": float64(st.Written), "log_dropped": float64(st.Dropped), "log_queued": float64(st.Queued),
		"log_stalled": wholeMillis(st.Stalled), "log_stderr": state,
	}
}

// wholeMillis is d in seconds to the millisecond, as a float that prints
// as such: Duration.Seconds of a rounded duration adds a float artefact
// (5.8100000000000005), as 5 + 0.81 is not the double nearest 5.81;
// 5810/1000 is.
func wholeMillis(d time.Duration) float64 {
	return float64(d.Round(time.Millisecond).Milliseconds()) / 1000
}

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
