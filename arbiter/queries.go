package arbiter

import (
	"strings"

	"github.com/poold/poold/watcher"
)

func cmdList(a *Arbiter, m *cmdMsg) error {
	if !m.props().has("name") {
		m.ok(map[string]any{"watchers": a.names()})
		return nil
	}
	w, err := a.watcherProp(m)
	if err != nil {
		return err
	}
	m.ok(map[string]any{"pids": w.Pids()})
	return nil
}

// cmdStatus answers Circus's status, plus poold's reasons (why a watcher
// is flapping or failed, and what to do) and, for one watcher, its slots.
func cmdStatus(a *Arbiter, m *cmdMsg) error {
	if !m.props().has("name") {
		st := make(map[string]any, len(a.watchers))
		reasons := map[string]any{}
		for _, w := range a.watchers {
			key := strings.ToLower(w.Name())
			st[key] = string(w.Status())
			if r := w.Reason(); r != "" {
				reasons[key] = r
			}
		}
		m.ok(map[string]any{"statuses": st, "reasons": reasons, "logs": a.output.logCounters()})
		return nil
	}
	w, err := a.watcherProp(m)
	if err != nil {
		return err
	}
	fields := map[string]any{"status": string(w.Status()), "slots": slotRows(w.Slots())}
	if c, ok := a.output.logCounters()[strings.ToLower(w.Name())]; ok {
		fields["logs"] = c
	}
	if r := w.Reason(); r != "" {
		fields["reason"] = r
	}
	m.ok(fields)
	return nil
}

// slotRows is the wire form of a watcher's slots.
func slotRows(slots []watcher.SlotInfo) []map[string]any {
	out := make([]map[string]any, 0, len(slots))
	for _, s := range slots {
		retry := 0.0
		if !s.RetryAt.IsZero() {
			retry = float64(s.RetryAt.UnixNano()) / 1e9
		}
		out = append(out, map[string]any{
			"wid": s.Wid, "state": s.State, "pid": s.Pid, "restarts": s.Restarts,
			"last_exit": s.LastExit, "retry_at": retry,
		})
	}
	return out
}

func cmdNumWatchers(a *Arbiter, m *cmdMsg) error {
	m.ok(map[string]any{"numwatchers": len(a.watchers)})
	return nil
}

func cmdNumProcesses(a *Arbiter, m *cmdMsg) error {
	ws, err := a.targets(m)
	if err != nil {
		return err
	}
	n := 0
	for _, w := range ws {
		n += len(w.Pids())
	}
	m.ok(map[string]any{"numprocesses": n})
	return nil
}

func cmdListSockets(a *Arbiter, m *cmdMsg) error {
	var out []map[string]any
	for _, l := range a.socks.List() {
		in := l.Info(int(l.File.Fd()))
		// poold's additions: the accept queue and its limit (saturation).
		if n, limit, err := queueOf(l.FD()); err == nil {
			in["queue"], in["queue_limit"] = n, limit
		}
		out = append(out, in)
	}
	if out == nil {
		out = []map[string]any{}
	}
	m.ok(map[string]any{"sockets": out})
	return nil
}

func cmdReloadConfig(a *Arbiter, m *cmdMsg) error {
	wait, err := m.props().boolean("waiting", false)
	if err != nil {
		return err
	}
	if a.opts.Load == nil {
		return errorf(ErrnoFailed, "reloadconfig: poold was started without a config file to re-read")
	}
	if !wait {
		a.reloadConfig(a.logReload)
		m.ok(nil)
		return nil
	}
	a.reloadConfig(func(o reloadOutcome, err error) {
		a.logReload(o, err)
		switch {
		case err != nil:
			m.fail(errorf(ErrnoAsync, "reloadconfig: %v", err))
		case o.err() != nil:
			m.failWith(errorf(ErrnoAsync, "reloadconfig: %v", o.err()), o.fields())
		default:
			m.ok(o.fields())
		}
	})
	return nil
}

func cmdQuit(a *Arbiter, m *cmdMsg) error {
	m.ok(nil)
	a.quitO.Do(func() { close(a.quit) })
	return nil
}
