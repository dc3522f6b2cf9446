package arbiter

import (
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/poold/poold/watcher"
)

// atSeq adds to a snapshot reply (list, status, stats) the event seq it
// reflects and the bus's instance, poold's addition: built on the loop,
// which publishes the lifecycle events, the reply reflects every event up
// to seq and none after it. A subscriber that builds state joins the
// snapshot to the stream by applying only the events above seq, of that
// instance (README "Joining late"). It returns fields.
func (a *Arbiter) atSeq(fields map[string]any) map[string]any {
	seq, instance := a.bus.Position()
	fields["seq"], fields["instance"] = seq, instance
	return fields
}

func cmdList(a *Arbiter, m *cmdMsg) error {
	if !m.props().has("name") {
		m.ok(a.atSeq(map[string]any{"watchers": a.listNames()}))
		return nil
	}
	w, err := a.watcherProp(m)
	if err != nil {
		return err
	}
	m.ok(a.atSeq(map[string]any{"pids": w.Pids()}))
	return nil
}

// cmdStatus answers Circus's status, in Circus's four words
// (watcher.CircusStatus), plus poold's finer word (state, states: also
// flapping or failed), its reasons (why a watcher is flapping or failed,
// and what to do) and, for one watcher, its slots.
func cmdStatus(a *Arbiter, m *cmdMsg) error {
	if !m.props().has("name") {
		st := make(map[string]any, len(a.watchers))
		states := make(map[string]any, len(a.watchers))
		reasons := map[string]any{}
		sizes := make(map[string]any, len(a.watchers))
		restarts := make(map[string]any, len(a.watchers))
		logs := a.logCounters() // by lower-case name
		for lower, w := range a.watchers {
			// Keyed by the name as configured, as circusd's statuses.
			key := w.Name()
			if c, ok := logs[lower]; ok && key != lower {
				delete(logs, lower)
				logs[key] = c
			}
			st[key], states[key] = string(w.CircusStatus()), string(w.Shown())
			sizes[key] = sizeRow(w)
			restarts[key] = w.Restarts().Total()
			if r := a.reasonOf(w); r != "" {
				reasons[key] = r
			}
		}
		m.ok(a.atSeq(map[string]any{"statuses": st, "states": states, "reasons": reasons, "sizes": sizes, "restarts": restarts, "logs": logs}))
		return nil
	}
	w, err := a.watcherProp(m)
	if err != nil {
		return err
	}
	fields := map[string]any{"status": string(w.CircusStatus()), "state": string(w.Shown()), "slots": slotRows(w.Slots(), time.Now()), "size": sizeRow(w), "containment": a.containment,
		"overrides": overrideRows(a.overrides(w), m.withhold), "restarts": restartRow(w.Restarts())}
	if c, ok := a.logCounters()[strings.ToLower(w.Name())]; ok {
		fields["logs"] = c
	}
	if r := a.reasonOf(w); r != "" {
		fields["reason"] = r
		if r == w.Reason() && w.ReasonFine() {
			// It only tells of one-shots that did their work: no warning.
			fields["reason_fine"] = true
		}
	}
	m.ok(a.atSeq(fields))
	return nil
}

// restartRow is the wire form of a watcher's restart tally: total,
// by_reason (the reasons of poold_worker_restarts_total) and, once there
// was one, the last restart (time, reason, wid, pid, why).
func restartRow(r watcher.Restarts) map[string]any {
	by := make(map[string]any, len(r.ByReason))
	for k, n := range r.ByReason {
		by[k] = n
	}
	row := map[string]any{"total": r.Total(), "by_reason": by}
	if !r.Last.At.IsZero() {
		row["last"] = map[string]any{"time": float64(r.Last.At.UnixNano()) / 1e9, "reason": r.Last.Reason,
			"wid": r.Last.Wid, "pid": r.Last.Pid, "why": r.Last.Why}
	}
	return row
}

// slotRows is the wire form of a watcher's slots at now.
func slotRows(slots []watcher.SlotInfo, now time.Time) []map[string]any {
	out := make([]map[string]any, 0, len(slots))
	for _, s := range slots {
		retry := 0.0
		if !s.RetryAt.IsZero() {
			retry = float64(s.RetryAt.UnixNano()) / 1e9
		}
		row := map[string]any{
			"wid": s.Wid, "state": s.State, "pid": s.Pid, "restarts": s.Restarts,
			"last_exit": s.LastExit, "retry_at": retry,
		}
		if s.State == string(watcher.HoldExited) {
			// Whether its worker ended badly: a one-shot that did its
			// work is no failure (the console colours it so).
			row["failed"] = s.Failed
		}
		if !s.KillAt.IsZero() {
			// A worker being stopped (draining): when poold SIGKILLs
			// it if it has not ended by then, and how long that is.
			row["kill_at"] = float64(s.KillAt.UnixNano()) / 1e9
			row["kill_in"] = killIn(s.KillAt, now)
		}
		if s.Recycle != "" {
			// A ready worker being replaced, and whether its replacement
			// waits (README "max_age").
			row["recycle"] = s.Recycle
		}
		out = append(out, row)
	}
	return out
}

// killIn is how long a worker being stopped has left before its SIGKILL
// at killAt, in seconds to the millisecond, 0 once that is past.
func killIn(killAt, now time.Time) float64 {
	return max(killAt.Sub(now), 0).Round(time.Millisecond).Seconds()
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
	fields := map[string]any{"numprocesses": n}
	if m.props().has("name") && len(ws) == 1 {
		fields["watcher_name"] = ws[0].Name() // as circusd
	}
	m.ok(fields)
	return nil
}

// cmdListSockets answers Circus's listsockets. Like circusd, fd is the fd
// at which workers inherit the socket (the first watcher by name that
// uses it), and no two sockets share one: a socket no watcher uses, or
// whose workers' fd another socket already reports, gets the lowest fd
// (from 3) no other socket reports. poold's additions: worker_fds (the fd
// in each watcher's workers, which may differ when watchers list their
// sockets in another order), poold_fd (poold's own), and the accept
// queue and its limit.
func cmdListSockets(a *Arbiter, m *cmdMsg) error {
	all := a.socks.List()
	fdOf, byWatcher := a.listedFDs()
	out := make([]map[string]any, 0, len(all))
	for _, l := range all {
		fds := byWatcher[l.Name]
		if fds == nil {
			fds = map[string]int{}
		}
		in := l.Info(fdOf[l.Name])
		in["worker_fds"], in["poold_fd"] = fds, l.FD()
		if n, limit, err := queueOf(l.FD()); err == nil {
			in["queue"], in["queue_limit"] = n, limit
			if l.Passed() {
				in["backlog"] = limit // systemd's Backlog=; the config's is not applied
			}
		}
		out = append(out, in)
	}
	sort.Slice(out, func(i, j int) bool { return out[i]["fd"].(int) < out[j]["fd"].(int) })
	m.ok(map[string]any{"sockets": out})
	return nil
}

// listedFDs gives each socket the fd listsockets reports (distinctFDs),
// by name, and each socket's fd in the workers of each watcher that uses
// it (worker_fds). The stats stream names a socket by the same fd, as
// circusd does. Call it on the loop.
func (a *Arbiter) listedFDs() (fdOf map[string]int, byWatcher map[string]map[string]int) {
	byWatcher = map[string]map[string]int{}
	for _, w := range a.sorted(nil) {
		for i, name := range w.Spec().SocketNames(a.cfg.Sockets) {
			if byWatcher[name] == nil {
				byWatcher[name] = map[string]int{}
			}
			byWatcher[name][w.Name()] = 3 + i
		}
	}
	all := a.socks.List()
	names := make([]string, 0, len(all))
	for _, l := range all {
		names = append(names, l.Name)
	}
	return distinctFDs(names, byWatcher), byWatcher
}

// distinctFDs gives each socket of names the fd listsockets reports: its
// workers' fd in the first watcher by name that uses it, unless a socket
// before it (by that fd, then name) has it already; those sockets, then
// the ones no watcher uses, take the lowest fd from 3 no socket has.
func distinctFDs(names []string, byWatcher map[string]map[string]int) map[string]int {
	type claim struct {
		name string
		fd   int
	}
	var claims []claim
	for _, n := range names {
		if fds := byWatcher[n]; len(fds) > 0 {
			claims = append(claims, claim{n, fds[slices.Sorted(maps.Keys(fds))[0]]})
		}
	}
	sort.Slice(claims, func(i, j int) bool {
		if claims[i].fd != claims[j].fd {
			return claims[i].fd < claims[j].fd
		}
		return claims[i].name < claims[j].name
	})
	out := make(map[string]int, len(names))
	given := map[int]bool{}
	var rest []string
	for _, c := range claims {
		if given[c.fd] {
			rest = append(rest, c.name)
			continue
		}
		given[c.fd], out[c.name] = true, c.fd
	}
	unused := slices.DeleteFunc(slices.Clone(names), func(n string) bool { return len(byWatcher[n]) > 0 })
	sort.Strings(unused)
	next := 3
	for _, n := range append(rest, unused...) {
		for given[next] {
			next++
		}
		given[next], out[n] = true, next
	}
	return out
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

// cmdQuit stops every watcher and then poold. With waiting, as circusd,
// the reply comes once every worker is gone (Run answers it just before
// it returns).
func cmdQuit(a *Arbiter, m *cmdMsg) error {
	wait, err := m.props().boolean("waiting", false)
	if err != nil {
		return err
	}
	if wait {
		a.quitWaiting = append(a.quitWaiting, m)
	} else {
		m.ok(nil)
	}
	a.quitO.Do(func() { close(a.quit) })
	return nil
}
