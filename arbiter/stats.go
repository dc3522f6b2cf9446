package arbiter

import (
	"maps"
	"strconv"
	"time"

	"github.com/poold/poold/arbiter/logsink"
	"github.com/poold/poold/configs"
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
