package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// `poolctl logs` without NAME: the lines of every watcher, merged in
// time order, each preceded by its watcher's name, like `pm2 logs` and
// `docker compose logs`. All of it is poolctl's: one logs request per
// watcher (and one list) per read, over the same connection, with the
// cursors and the follow loop of the one-watcher form.

// allLogs reads the rings of every watcher.
type allLogs struct {
	a       *app
	stream  string                // --stream, or ""
	cursors map[string]*logCursor // by name, as poold lists it
	noRing  map[string]bool       // watchers found to keep no lines (log_ring = 0): not asked
}

// logsAll prints the last q.lines of every watcher's lines merged (with
// --since, those written since then), then with q.follow the new lines
// of every watcher, those added later included, until ctx is cancelled.
func (a *app) logsAll(ctx context.Context, q logsQuery) error {
	client, err := a.dial()
	if err != nil {
		return err
	}
	defer func() { client.Close() }() // followLogs may replace it
	l := &allLogs{a: a, stream: q.stream, cursors: map[string]*logCursor{}, noRing: map[string]bool{}}
	names, err := l.list(ctx, client)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		fmt.Fprintln(a.stderr, "poolctl: poold has no watchers yet (poolctl add, or the config file and poolctl reloadconfig, adds some)")
	}
	var batches [][]logRecord
	var quiet []string // watchers with no line in this batch
	for _, name := range names {
		c := l.cursor(name, q.lines)
		recs, last, err := a.fetchLogs(ctx, client, c)
		switch {
		case isNotFound(err, name):
			continue // removed since the list: a later list drops it
		case err != nil:
			return err
		}
		c.last = last
		if recs = a.dropBefore(recs, name); len(recs) == 0 {
			quiet = append(quiet, name)
		}
		batches = append(batches, recs)
	}
	recs := mergeByTime(batches)
	if n := q.lines; a.logsSince.IsZero() && len(recs) > n {
		recs = recs[len(recs)-n:]
	}
	recs, err = a.withEvents(ctx, client, a.tailSince(recs))
	if perr := a.printLogs(recs); perr != nil {
		return runError{perr}
	}
	if err != nil {
		return err
	}
	if err := l.findNoRing(ctx, client, quiet, nil); err != nil {
		return err
	}
	if !q.follow {
		return nil
	}
	return a.followLogs(ctx, &client, l)
}

// list asks poold for its watchers' names, widens the name column to
// the longest and returns them.
func (l *allLogs) list(ctx context.Context, client caller) ([]string, error) {
	r, err := l.a.ask(ctx, client, "list", map[string]any{})
	if err != nil {
		return nil, err
	}
	var names []string
	ws, _ := r["watchers"].([]any)
	for _, w := range ws {
		if s, ok := w.(string); ok {
			names = append(names, s)
			l.a.logsWidth = max(l.a.logsWidth, len(s))
		}
	}
	return names, nil
}

// cursor makes the cursor of watcher name, whose first read asks for the
// last lines of it (every line, with --since).
func (l *allLogs) cursor(name string, lines int) *logCursor {
	if !l.a.logsSince.IsZero() {
		lines = maxFollowLines
	}
	props := map[string]any{"name": name, "lines": lines}
	if l.stream != "" {
		props["stream"] = l.stream
	}
	c := &logCursor{props: props}
	l.cursors[name] = c
	return c
}

// findNoRing asks the watchers that had no line whether they keep any
// (log_ring), and says in one line which do not: their lines are not
// shown, and no more asked for. missing are cursors whose batch had no
// line but missed some: a ring set to 0 while following (its lines are
// counted as missed every round), or one that dropped them all, said.
func (l *allLogs) findNoRing(ctx context.Context, client caller, quiet []string, missing []*logCursor) error {
	var none []string
	for _, c := range missing {
		quiet = append(quiet, c.props["name"].(string))
	}
	for _, name := range quiet {
		r, err := l.a.ask(ctx, client, "get", map[string]any{"name": name, "keys": []string{"log_ring"}})
		if isNotFound(err, name) {
			continue
		} else if err != nil {
			return err
		}
		o, _ := r["options"].(map[string]any)
		if ring, ok := o["log_ring"].(float64); ok && ring == 0 {
			l.noRing[name] = true
			none = append(none, name)
		}
	}
	for _, c := range missing {
		if !l.noRing[c.props["name"].(string)] {
			l.a.sayMissed(c)
		}
	}
	if len(none) > 0 {
		fmt.Fprintf(l.a.stderr, "poolctl: not shown: the lines of %s, which poold keeps none of in memory (log_ring = 0; 'poolctl logs %s' says where they go)\n",
			strings.Join(none, ", "), none[0])
	}
	return nil
}

// round lists the watchers (following those added, dropping those
// removed, saying so) and prints the lines of all written since the
// last round, merged in time order. Lines read before an error are
// printed too: their cursors moved past them.
func (l *allLogs) round(ctx context.Context, client caller) (bool, error) {
	names, err := l.list(ctx, client)
	if err != nil {
		return false, err
	}
	var batches [][]logRecord
	var startOver, quiet []string
	var missing []*logCursor
	flush := func() error {
		if len(startOver) > 0 {
			fmt.Fprintf(l.a.stderr, "poolctl: poold's lines of %s start over (poold was upgraded or restarted); following from their first\n", strings.Join(startOver, ", "))
		}
		recs, err := l.a.withEvents(ctx, client, mergeByTime(batches))
		if perr := l.a.printLogs(recs); perr != nil {
			return runError{perr}
		}
		return err
	}
	for _, name := range l.added(names) {
		fmt.Fprintf(l.a.stderr, "poolctl: watcher %s was added; following its lines from the first\n", name)
		l.cursor(name, maxFollowLines)
		quiet = append(quiet, name)
	}
	for _, name := range names {
		c := l.cursors[name]
		if l.noRing[name] {
			continue
		}
		recs, turn, err := l.a.poll(ctx, client, c)
		switch turn {
		case turnStartOver:
			startOver = append(startOver, name)
		case turnAddedAgain:
			fmt.Fprintf(l.a.stderr, "poolctl: watcher %s was added again; following its lines from the first\n", name)
		}
		if err != nil {
			_ = flush()
			return len(startOver) > 0, err
		}
		batches = append(batches, l.a.dropBefore(recs, name))
		switch {
		case len(recs) > 0:
			quiet = slices.DeleteFunc(quiet, func(s string) bool { return s == name })
			l.a.sayMissed(c)
		case c.missed > 0:
			missing = append(missing, c)
		}
	}
	if err := flush(); err != nil {
		return len(startOver) > 0, err
	}
	return len(startOver) > 0, l.findNoRing(ctx, client, quiet, missing)
}

// added returns the names not followed yet, and forgets the watchers
// not in names, saying they were removed.
func (l *allLogs) added(names []string) []string {
	var added []string
	for _, name := range names {
		if l.cursors[name] == nil {
			added = append(added, name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(l.cursors)) {
		if !slices.Contains(names, name) {
			fmt.Fprintf(l.a.stderr, "poolctl: watcher %s was removed\n", name)
			delete(l.cursors, name)
			delete(l.noRing, name)
		}
	}
	return added
}

func (l *allLogs) resume() (string, string) {
	return "each watcher's last line", "the lines go on from each watcher's last"
}

// mergeByTime merges batches, each in its ring's order, into one in the
// order of the lines' times; equal times keep the batches' order. Each
// batch keeps its own order: a worker's stdout and stderr are read
// apart, so a ring can hold a line just before an earlier one.
func mergeByTime(batches [][]logRecord) []logRecord {
	n := 0
	for _, b := range batches {
		n += len(b)
	}
	out := make([]logRecord, 0, n)
	next := make([]int, len(batches)) // next[i]: the first of batches[i] not in out
	for len(out) < n {
		pick := -1
		for i, b := range batches {
			if next[i] < len(b) && (pick < 0 || b[next[i]].Time.Before(batches[pick][next[pick]].Time)) {
				pick = i
			}
		}
		out = append(out, batches[pick][next[pick]])
		next[pick]++
	}
	return out
}
