package arbiter

import (
	"context"
	"maps"
	"os"
	"strconv"
	"time"

	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher"
	"github.com/poold/poold/watcher/procinfo"
)

// procRow is what the loop knows of one process; it is merged with what
// the sampler reads from /proc outside the loop.
type procRow struct {
	watcher string
	proc    watcher.Process
}

func (a *Arbiter) rows(ws []*watcher.Watcher) []procRow {
	var rows []procRow
	for _, w := range ws {
		for _, p := range w.Processes() {
			rows = append(rows, procRow{w.Name(), p})
		}
	}
	return rows
}

// ProcInfo is the process info object of PROTOCOL.md with what poold adds:
// the worker's state and how often its slot was restarted.
type ProcInfo struct {
	procinfo.Info
	State    string `json:"state"`
	Restarts int    `json:"restarts"`
}

// info builds the process info object for one row. A process that is gone
// from /proc (it just exited) still gets what the loop knows.
func info(r procRow, sampled map[int]procinfo.Info) ProcInfo {
	in, ok := sampled[r.proc.Pid]
	if !ok {
		in = procinfo.Info{PID: r.proc.Pid, Children: []procinfo.Info{}}
		in.Age = time.Since(r.proc.Started).Seconds()
		in.CreateTime = float64(r.proc.Started.UnixNano()) / 1e9
	}
	in.WID = r.proc.Wid
	in.Started = float64(r.proc.Started.UnixNano()) / 1e9
	return ProcInfo{Info: in, State: r.proc.State, Restarts: r.proc.Restarts}
}

func (a *Arbiter) sample(rows []procRow) map[int]procinfo.Info {
	pids := make([]int, len(rows))
	for i, r := range rows {
		pids[i] = r.proc.Pid
	}
	sampled, err := a.opts.Stats.Sample(pids)
	if err != nil {
		a.log.Warn("sampling worker statistics failed", "error", err)
	}
	return sampled
}

// deferReply answers m with a reply that fn completes in the caller's
// goroutine: the loop gathers pids, the caller reads /proc.
func deferReply(m *cmdMsg, fn func() (map[string]any, error)) {
	id := m.req.ID
	m.reply <- answer{finish: func() Reply {
		fields, err := fn()
		if err != nil {
			return Fail(id, err)
		}
		return OK(id, fields)
	}}
}

func cmdStats(a *Arbiter, m *cmdMsg) error {
	p := m.props()
	if !p.has("name") {
		rows := a.rows(a.sorted(nil))
		names := a.names()
		deferReply(m, func() (map[string]any, error) {
			sampled := a.sample(rows)
			infos := map[string]map[string]ProcInfo{}
			for _, n := range names {
				infos[n] = map[string]ProcInfo{}
			}
			for _, r := range rows {
				infos[r.watcher][strconv.Itoa(r.proc.Pid)] = info(r, sampled)
			}
			return map[string]any{"infos": infos}, nil
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
			return errorf(ErrnoBadProperty, "stats: watcher %q has no process with pid %d (its pids: %v)", w.Name(), pid, w.Pids())
		}
		for _, r := range rows {
			if r.proc.Pid == pid {
				rows = []procRow{r}
				break
			}
		}
	}
	name := w.Name()
	deferReply(m, func() (map[string]any, error) {
		sampled := a.sample(rows)
		if pid != 0 {
			return map[string]any{"name": name, "process": pid, "info": info(rows[0], sampled)}, nil
		}
		infos := map[string]ProcInfo{}
		for _, r := range rows {
			infos[strconv.Itoa(r.proc.Pid)] = info(r, sampled)
		}
		return map[string]any{"name": name, "info": infos}, nil
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
// (seconds), and log_stderr: "ok", "blocked" or "gone" (the reader went
// away: nothing is written any more). Safe off the loop.
func (a *Arbiter) logStats() map[string]any {
	if a.opts.Logs == nil {
		return nil
	}
	st := a.opts.Logs.Stats()
	state := "ok"
	switch {
	case st.Gone:
		state = "gone"
	case st.Stalled >= stalledAfter:
		state = "blocked"
	}
	return map[string]any{
		"log_written": float64(st.Written), "log_dropped": float64(st.Dropped), "log_queued": float64(st.Queued),
		"log_stalled": st.Stalled.Round(time.Millisecond).Seconds(), "log_stderr": state,
	}
}

// RunStats publishes the stats stream (PROTOCOL.md section 3) on bus every
// interval, or every arbiter.stats_interval of the last config reload,
// until ctx is done or the arbiter has stopped. /proc is read here, never
// on the loop.
func (a *Arbiter) RunStats(ctx context.Context, interval time.Duration, bus *events.Bus) error {
	if interval <= 0 {
		interval = time.Second
	}
	t := time.NewTicker(interval)
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
				interval = d
				t.Reset(d)
			}
			continue
		case <-t.C:
		}
		snap, err := a.Snapshot(ctx)
		if err != nil {
			continue
		}
		a.publishStats(bus, snap)
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
		f["subtopic"] = r.proc.Pid
		f["name"] = r.watcher
		bus.PublishTopic("stat."+events.TopicName(r.watcher)+"."+strconv.Itoa(r.proc.Pid), r.watcher, "stat", f)
	}
	for _, w := range snap.Watchers {
		agg := procinfo.Aggregate(per[w.Name])
		agg["name"] = w.Name
		bus.PublishTopic("stat."+events.TopicName(w.Name), w.Name, "stat", agg)
	}
	if self, err := a.opts.Stats.Self(); err == nil {
		pid := strconv.Itoa(os.Getpid())
		for _, topic := range []string{"stat.poold." + pid, "stat.circus." + pid} {
			f := self.Map()
			f["name"] = "poold"
			f["subtopic"] = os.Getpid()
			bus.PublishTopic(topic, "", "stat", f)
		}
	}
	var addrs []string
	reads := 0
	for _, s := range snap.Sockets {
		addr := sockAddr(s.Info)
		addrs = append(addrs, addr)
		reads += s.Queued
		bus.PublishTopic("stat.sockets."+strconv.Itoa(s.FD), "", "stat", map[string]any{
			"fd": s.FD, "address": addr, "reads": s.Queued, "name": s.Name,
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
