package arbiter

import (
	"os"
	"strconv"
	"time"

	"github.com/poold/poold/watcher"
)

// procRow is what the loop knows of one process; the caller of Do merges
// it with what the sampler reads from /proc, outside the loop.
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

// info builds the process info object for one row.
func (a *Arbiter) info(r procRow, sampled map[int]map[string]any) map[string]any {
	info := map[string]any{}
	for k, v := range sampled[r.proc.Pid] {
		info[k] = v
	}
	now := time.Now()
	info["pid"] = r.proc.Pid
	info["wid"] = r.proc.Wid
	info["state"] = r.proc.State
	info["restarts"] = r.proc.Restarts
	info["started"] = float64(r.proc.Started.UnixNano()) / 1e9
	if _, ok := info["age"]; !ok {
		info["age"] = now.Sub(r.proc.Started).Seconds()
	}
	if _, ok := info["create_time"]; !ok {
		info["create_time"] = info["started"]
	}
	return info
}

func (a *Arbiter) sample(rows []procRow) map[int]map[string]any {
	if a.opts.Stats == nil {
		return nil
	}
	pids := make([]int, len(rows))
	for i, r := range rows {
		pids[i] = r.proc.Pid
	}
	return a.opts.Stats.Sample(pids)
}

// deferReply answers m with a reply completed by fn in the caller's
// goroutine (see postKey).
func deferReply(m *cmdMsg, fn func() (map[string]any, error)) {
	id := m.req.ID
	m.reply <- Reply{postKey: func() Reply {
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
			infos := map[string]any{}
			for _, n := range names {
				infos[n] = map[string]any{}
			}
			for _, r := range rows {
				infos[r.watcher].(map[string]any)[strconv.Itoa(r.proc.Pid)] = a.info(r, sampled)
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
			return map[string]any{"name": name, "process": pid, "info": a.info(rows[0], sampled)}, nil
		}
		info := map[string]any{}
		for _, r := range rows {
			info[strconv.Itoa(r.proc.Pid)] = a.info(r, sampled)
		}
		return map[string]any{"name": name, "info": info}, nil
	})
	return nil
}

func cmdDstats(a *Arbiter, m *cmdMsg) error {
	started := a.started
	deferReply(m, func() (map[string]any, error) {
		var info map[string]any
		if a.opts.Stats != nil {
			info = a.opts.Stats.Self()
		}
		if info == nil {
			info = map[string]any{}
		}
		info["pid"] = os.Getpid()
		info["name"] = "poold"
		info["started"] = float64(started.UnixNano()) / 1e9
		return map[string]any{"info": info}, nil
	})
	return nil
}
