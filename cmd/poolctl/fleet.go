package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/poold/poold/web/remote"
)

// The fleet view: several --url (or --hosts-file) and status, stats or
// events merge the hosts' answers into one table or stream, each row
// labelled with its host. Hosts are asked concurrently, each within
// --timeout, so an unreachable or stuck host is shown as such and never
// holds up the others.

// fleetCommands are the commands that show a fleet.
var fleetCommands = map[string]bool{"status": true, "stats": true}

// hostResult is one host's answer to a fleet call.
type hostResult struct {
	url     string // as given
	host    string
	raw     []byte
	rep     reply
	err     error
	timeout time.Duration // the host had this long to answer
}

// fleetCall runs cl on every host and prints the merged answer. It
// fails with exit 3 when a host was unreachable, 1 when one answered
// with an error, after printing what the others said.
func (a *app) fleetCall(ctx context.Context, cl call) error {
	if !fleetCommands[cl.command] {
		return usagef("%d hosts given: only status, stats and events show a fleet; give one --url for %s", len(a.urls), cl.command)
	}
	timeout := a.timeoutFor(noWait)
	res := make([]hostResult, len(a.urls))
	var wg sync.WaitGroup
	for i, u := range a.urls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i] = a.askHost(ctx, u, cl, timeout)
		}()
	}
	wg.Wait()
	if err := a.printFleet(cl.command, res); err != nil {
		return runError{err}
	}
	return fleetOutcome(res)
}

func (a *app) askHost(ctx context.Context, u string, cl call, timeout time.Duration) hostResult {
	c, err := a.remoteClient(u)
	if err != nil {
		return hostResult{url: u, host: u, err: err}
	}
	defer c.Close()
	r := hostResult{url: u, host: c.Host(), timeout: timeout}
	props := map[string]any{}
	for k, v := range cl.props {
		props[k] = v
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, _ := json.Marshal(map[string]any{"id": newID(), "command": cl.command, "properties": props})
	r.raw, r.err = c.Call(cctx, req)
	if r.err == nil {
		r.err = json.Unmarshal(r.raw, &r.rep)
	}
	return r
}

// problem says why the host has no answer, briefly.
func (r hostResult) problem() string {
	var ue *remote.UnreachableError
	switch {
	case errors.As(r.err, &ue):
		return "unreachable: " + ue.Reason
	case errors.Is(r.err, remote.ErrTimeout):
		return fmt.Sprintf("no answer within --timeout %v", r.timeout)
	}
	return "unreachable: " + r.err.Error()
}

// printFleet writes one table with a HOST column (or, with --json, one
// {"host", "reply"|"error"} object a line).
func (a *app) printFleet(command string, res []hostResult) error {
	if a.json {
		for _, r := range res {
			line := map[string]any{"host": r.host}
			if r.err != nil {
				line["error"] = r.problem()
			} else {
				line["reply"] = json.RawMessage(r.raw)
			}
			b, _ := json.Marshal(line)
			if _, err := fmt.Fprintf(a.stdout, "%s\n", b); err != nil {
				return err
			}
		}
		return nil
	}
	var cols []string           // the union of the hosts' columns, in order
	var rows []fleetRow         // each host's rows, or one row of a host without any
	problem := map[int]string{} // row index -> why that host has no rows
	for _, r := range res {
		switch {
		case r.err != nil:
			problem[len(rows)] = r.problem()
			rows = append(rows, fleetRow{host: r.host})
			continue
		case r.rep["status"] == "error":
			problem[len(rows)] = "error: " + render(r.rep["reason"]) + a.tokenNote(r.url, int(num(r.rep["errno"])))
			rows = append(rows, fleetRow{host: r.host})
			continue
		}
		var sink rawSink
		if err := formatReply(&sink, command, r.rep); err != nil {
			return err
		}
		lines := strings.Split(strings.TrimRight(sink.String(), "\n"), "\n")
		var head []string
		if len(lines) > 0 && strings.Contains(lines[0], "\t") && strings.ToUpper(lines[0]) == lines[0] {
			head = strings.Split(lines[0], "\t")
			cols = mergeColumns(cols, head)
			lines = lines[1:]
		}
		for _, l := range lines {
			rows = append(rows, fleetRow{host: r.host, head: head, cells: strings.Split(l, "\t")})
		}
	}
	if cols == nil {
		cols = []string{strings.ToUpper(command)}
	}
	return writeTrimmed(a.stdout, func(t io.Writer) {
		fmt.Fprintln(t, "HOST\t"+strings.Join(cols, "\t"))
		for i, row := range rows {
			if why, ok := problem[i]; ok {
				// A host without rows fills every column but the last
				// with "-", so the table's columns stay aligned across it.
				fmt.Fprintln(t, row.host+"\t"+strings.Repeat("-\t", len(cols)-1)+why)
				continue
			}
			fmt.Fprintln(t, row.host+"\t"+strings.Join(row.aligned(cols), "\t"))
		}
	})
}

// fleetRow is one row of a fleet table: its host, and its cells under
// the columns of its host's own table (head; nil for a table without a
// header line).
type fleetRow struct {
	host  string
	head  []string
	cells []string
}

// aligned puts r's cells under cols, the union of every host's columns:
// hosts of different versions, or with and without an elastic pool, have
// different columns (an older poold sends no READY), and a cell must not
// land under another's heading. A column r's host lacks is "-"; a row of
// a table without a header keeps its cells as they are.
func (r fleetRow) aligned(cols []string) []string {
	if r.head == nil {
		return r.cells
	}
	at := make(map[string]string, len(r.head))
	for i, h := range r.head {
		if i < len(r.cells) {
			at[h] = r.cells[i]
		}
	}
	out := make([]string, len(cols))
	for i, c := range cols {
		v, ok := at[c]
		if !ok && c != reasonColumn {
			v = "-" // an empty REASON says all is well
		}
		out[i] = v
	}
	return out
}

// reasonColumn is the free-text column of status tables: always last.
const reasonColumn = "REASON"

// mergeColumns adds the columns of head that cols lacks, each after the
// column it follows in head, so the union keeps every table's order,
// with REASON (free text, the widest) last.
func mergeColumns(cols, head []string) []string {
	for i, h := range head {
		if slices.Contains(cols, h) {
			continue
		}
		at := 0
		if i > 0 {
			at = slices.Index(cols, head[i-1]) + 1
		}
		cols = slices.Insert(cols, at, h)
	}
	if i := slices.Index(cols, reasonColumn); i >= 0 && i < len(cols)-1 {
		cols = append(slices.Delete(cols, i, i+1), reasonColumn)
	}
	return cols
}

// fleetOutcome is the exit status of a fleet call.
func fleetOutcome(res []hostResult) error {
	var down, failed []string
	for _, r := range res {
		switch {
		case r.err != nil:
			down = append(down, r.host)
		case r.rep["status"] == "error":
			failed = append(failed, r.host)
		}
	}
	switch {
	case len(down) > 0 && len(failed) > 0:
		return connError{fmt.Sprintf("%d of %d hosts failed: %d unreachable (%s), %d answered with an error (%s)",
			len(down)+len(failed), len(res), len(down), strings.Join(down, ", "), len(failed), strings.Join(failed, ", ")), nil}
	case len(down) > 0:
		return connError{fmt.Sprintf("%d of %d hosts unreachable: %s", len(down), len(res), strings.Join(down, ", ")), nil}
	case len(failed) > 0:
		return replyError{reason: fmt.Sprintf("%d of %d hosts answered with an error: %s", len(failed), len(res), strings.Join(failed, ", "))}
	}
	return nil
}

// hostEvent is one event of one host, or the end of its stream.
type hostEvent struct {
	host           string
	topic, payload string
	err            error  // set once, when the host's stream ends
	note           string // the stream broke and is opened again
}

// fleetEvents prints the events of every host as they come, each line
// starting with its host, until interrupted. A host that cannot be
// reached, or whose stream breaks, is reported on stderr; the others go
// on. It ends with exit 3 when every stream has ended.
func (a *app) fleetEvents(ctx context.Context, prefixes []string, since int64) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := make(chan hostEvent, 64)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for _, u := range a.urls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.hostEvents(ctx, u, prefixes, since, ch)
		}()
	}
	live := len(a.urls)
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-ch:
			if ev.note != "" {
				fmt.Fprintf(a.stderr, "poolctl: %s: %s\n", ev.host, ev.note)
				continue
			}
			if ev.err != nil {
				live--
				fmt.Fprintf(a.stderr, "poolctl: %s: %s\n", ev.host, ev.err)
				if live == 0 {
					return connError{fmt.Sprintf("no host's event stream is left (%d hosts)", len(a.urls)), nil}
				}
				continue
			}
			if err := a.printHostEvent(ev); err != nil {
				return err
			}
		}
	}
}

// hostEvents streams one host's events into ch, then its end.
func (a *app) hostEvents(ctx context.Context, u string, prefixes []string, since int64, ch chan<- hostEvent) {
	send := func(ev hostEvent) {
		select {
		case ch <- ev:
		case <-ctx.Done():
		}
	}
	c, err := a.remoteClient(u)
	if err != nil {
		send(hostEvent{host: u, err: err})
		return
	}
	defer c.Close()
	// A stream that breaks (the host upgrading in place, restarting) is
	// opened again from its last event: no gap, nothing twice.
	lost := func(err error, from uint64) {
		send(hostEvent{host: c.Host(), note: lostNote(err, from)})
	}
	restarted := func(was, now string) { send(hostEvent{host: c.Host(), note: restartNote(was, now)}) }
	note := func(s string) { send(hostEvent{host: c.Host(), note: s}) }
	st, err := a.openFollow(ctx, c, prefixes, since, remote.FollowOptions{RetryFor: resubscribeFor, Lost: lost, Restarted: restarted}, note)
	if err != nil {
		if ctx.Err() == nil {
			send(hostEvent{host: c.Host(), err: fmt.Errorf("%s", hostProblemStream(err))})
		}
		return
	}
	defer st.Close()
	for {
		topic, payload, err := st.RecvRaw(ctx)
		if err != nil {
			if ctx.Err() == nil {
				send(hostEvent{host: c.Host(), err: fmt.Errorf("event stream lost: %v", err)})
			}
			return
		}
		send(hostEvent{host: c.Host(), topic: topic, payload: string(payload)})
	}
}

// openPoll is how often a fleet member that could not be reached is
// tried again.
const openPoll = 250 * time.Millisecond

// openFollow opens one host's stream. A host that cannot be reached, or
// does not answer, when the stream starts (down, restarting, a pod being
// replaced) is tried again for resubscribeFor, as one whose stream breaks
// later is; note says so, and says when it is back.
func (a *app) openFollow(ctx context.Context, c *remote.Client, prefixes []string, since int64, o remote.FollowOptions, note func(string)) (*remote.Follower, error) {
	began := time.Now()
	deadline := began.Add(resubscribeFor)
	tick := time.NewTicker(openPoll)
	defer tick.Stop()
	for retried := false; ; retried = true {
		if retried {
			// A poold started since is a new one (the host was down):
			// all it has to tell came after this began.
			o.NewerThan = began
		}
		octx, cancel := context.WithTimeout(ctx, a.timeoutFor(noWait))
		st, err := c.Follow(octx, prefixes, since, o)
		cancel()
		again := errors.Is(err, remote.ErrUnreachable) || errors.Is(err, remote.ErrTimeout)
		if err == nil || !again || ctx.Err() != nil || time.Now().After(deadline) {
			if err == nil && retried {
				note("event stream open")
			}
			if err != nil && retried {
				err = fmt.Errorf("%s; not back within %v", hostProblemStream(err), resubscribeFor)
			}
			return st, err
		}
		if !retried {
			note(fmt.Sprintf("%s; trying again for %v", hostProblemStream(err), resubscribeFor))
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
		}
	}
}

func hostProblemStream(err error) string {
	var ue *remote.UnreachableError
	if errors.As(err, &ue) {
		return "unreachable: " + ue.Reason
	}
	return err.Error()
}

func (a *app) printHostEvent(ev hostEvent) error {
	var err error
	if a.json {
		payload := []byte(ev.payload)
		if !json.Valid(payload) {
			payload, _ = json.Marshal(ev.payload)
		}
		h, _ := json.Marshal(ev.host)
		t, _ := json.Marshal(ev.topic)
		_, err = fmt.Fprintf(a.stdout, "{\"host\":%s,\"topic\":%s,\"event\":%s}\n", h, t, payload)
	} else {
		_, err = fmt.Fprintf(a.stdout, "%s %s\n", ev.host, eventLine(ev.topic, []byte(ev.payload)))
	}
	if err != nil {
		return runError{err}
	}
	return nil
}
