package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// followEvery is how often `poolctl logs -f` asks poold for new lines.
const followEvery = 200 * time.Millisecond

// stampLayout is the time of a line with -t: RFC 3339, milliseconds, UTC.
const stampLayout = "2006-01-02T15:04:05.000Z07:00"

// maxFollowLines is the most lines one poll of -f asks for (poold's bound).
const maxFollowLines = 10000

const logsHelp = `Print the recent lines the workers of watcher NAME wrote to stdout and
stderr, from the ring poold keeps in memory (log_ring lines per watcher,
default 1000), oldest first: the last -n LINES (default 10). With
--since, the lines written since then (a duration ago, 10m; a time,
2026-12-04T02:55:00Z; a time of today, 02:55), all that the ring holds
or the last -n of them; poolctl says so when the ring no longer goes
back that far.

With -f, go on printing new lines as they are written, until interrupted
(like journalctl -f), through restarts and upgrades of poold and the
removal of the watcher: when it is added again, its new workers' lines
follow. poolctl asks poold for the lines after the last one
it printed every 200 ms over the control endpoint; when more lines came
than the ring holds in between, it says how many it missed on stderr.

Each line is printed preceded by its wid and stream ("2 err| ...");
with -t, by the time poold read it (UTC) and its worker's pid too
("2026-12-04T02:55:01.042Z 2[4711] err| ..."), which tells apart the
successive workers of one wid; without -t, the lines of a wid that come
from more than one worker (a restart, a rolled-back reload) carry the
pid too ("2[4711] err| ..."); with --json, one record a line: seq,
time, watcher, wid, pid, stream, line. On a terminal, control characters other than tab (escape
sequences, \r, a bell) and other invisible characters are printed
escaped, as in poold's text log ("\x1b[31m"), so a worker cannot clear,
recolour or overwrite the screen; piped or redirected, and with --raw,
lines go out as the worker wrote them.

Without NAME, the lines of every watcher, merged in time order, each
preceded by its watcher's name ("web 2 err| ..."; with -t after the
time): -n counts the merged lines, --stream and --since apply to every
watcher, --wid needs a NAME. With -f, watchers added later are followed
from their first line and those removed dropped, each said on stderr.
A watcher with log_ring = 0 is named once on stderr, not an error.

With --events, the workers' starts, exits (with why) and the stop
signals poold sent them come among the lines, from poold's event
history ([arbiter] event_history), as lines of stream "event" ("web
2[4711] event| ended: exited with status 3"); on the first read, those
since the first line printed.

An empty answer is explained where poolctl can tell: a watcher with
log_ring = 0 keeps no lines, and a --wid no worker has (and that left no
lines) is an error; with -f the latter is a warning.`

func (a *app) logsCommand() *cobra.Command {
	c := &cobra.Command{
		Use:     "logs [NAME]",
		GroupID: "live",
		Short:   "Print the recent output of watcher NAME's workers (of every watcher without NAME); -f follows it live",
		Long:    logsHelp,
		Example: "  poolctl logs web -n 50\n  poolctl logs web --wid 2 --stream stderr -f\n  poolctl logs -f",
		Args:    checkArgs(cmdSpec{name: "logs", args: "[NAME]"}),
		RunE: func(c *cobra.Command, args []string) error {
			q, err := a.logsQueryOf(c, args)
			if err != nil {
				return err
			}
			return a.logs(c.Context(), q)
		},
	}
	c.ValidArgsFunction = a.completer(cmdSpec{name: "logs", nameArg: true})
	fs := c.Flags()
	fs.Int("wid", 0, "only the worker in slot N (1..numprocesses+max_surge: a reload's new workers are above numprocesses)")
	fs.String("stream", "", "only stdout or stderr")
	fs.IntP("lines", "n", 10, "how many recent lines to print first")
	fs.BoolP("follow", "f", false, "go on printing new lines until interrupted")
	fs.String("since", "", "only lines written since then: a duration ago (10m), a time (2026-12-04T02:55:00Z) or a time of today (02:55)")
	fs.BoolP("timestamps", "t", false, "precede each line with the time poold read it (UTC) and its worker's pid")
	fs.Bool("events", false, "also print the workers' starts, exits and the stop signals poold sent them (from poold's event history), as lines of stream \"event\"")
	fs.Bool("raw", false, "print control characters as the workers wrote them, also on a terminal (escape sequences act on it)")
	return c
}

// logsQueryOf reads logs' arguments and flags into a query, and the
// printing flags into a.
func (a *app) logsQueryOf(c *cobra.Command, args []string) (logsQuery, error) {
	q := logsQuery{}
	if len(args) > 0 {
		q.name = args[0]
	}
	q.wid, _ = c.Flags().GetInt("wid")
	if q.name == "" && q.wid != 0 {
		return q, usagef("logs: --wid needs a watcher NAME, as a wid is a slot of one watcher: poolctl logs NAME --wid %d ('poolctl list' shows the watchers)", q.wid)
	}
	q.stream, _ = c.Flags().GetString("stream")
	q.lines, _ = c.Flags().GetInt("lines")
	q.follow, _ = c.Flags().GetBool("follow")
	raw, _ := c.Flags().GetBool("raw")
	if events, _ := c.Flags().GetBool("events"); events {
		a.logsEvents = &eventFeed{prefix: "watcher.", wid: q.wid}
		if q.name != "" { // as poold names its topics
			a.logsEvents.watcher = strings.ReplaceAll(strings.ToLower(q.name), " ", "_")
			a.logsEvents.prefix += a.logsEvents.watcher + "."
		}
	}
	a.logsStamps, _ = c.Flags().GetBool("timestamps")
	a.escapeLogs = !raw && isTerminal(a.stdout)
	if since, _ := c.Flags().GetString("since"); since != "" {
		t, err := parseSince(since, time.Now())
		if err != nil {
			return q, err
		}
		// Every kept line since then, or the last -n of them.
		a.logsSince = t
		switch {
		case !c.Flags().Changed("lines"):
			q.lines = maxFollowLines
		case q.lines > 0:
			a.logsTail, q.lines = q.lines, maxFollowLines
		}
	}
	if q.stream != "" && q.stream != "stdout" && q.stream != "stderr" {
		return q, usagef("logs: --stream must be stdout or stderr, got %q", q.stream)
	}
	if q.lines < 0 || q.lines > maxFollowLines {
		return q, usagef("logs: -n must be between 0 and %d (the most poold sends at once), got %d", maxFollowLines, q.lines)
	}
	if q.wid < 0 {
		return q, usagef("logs: --wid must be a worker's slot number, 1 or more, got %d ('poolctl stats %s' shows the wids)", q.wid, q.name)
	}
	return q, nil
}

type logsQuery struct {
	name, stream string
	wid, lines   int
	follow       bool
}

// logRecord is one line of poold's logs reply, printed as it came with
// --json (the fields of workerlog.Record).
type logRecord struct {
	Seq     uint64    `json:"seq"`
	Time    time.Time `json:"time"`
	Watcher string    `json:"watcher"`
	Wid     int       `json:"wid"`
	Pid     int       `json:"pid"`
	Stream  string    `json:"stream"`
	Line    string    `json:"line"`
}

// logs prints the last lines, then with follow polls for new ones until
// ctx is cancelled (success).
func (a *app) logs(ctx context.Context, q logsQuery) error {
	if q.name == "" {
		return a.logsAll(ctx, q)
	}
	client, err := a.dial()
	if err != nil {
		return err
	}
	defer func() { client.Close() }() // followLogs may replace it
	props := map[string]any{"name": q.name, "lines": q.lines}
	if q.wid > 0 {
		props["wid"] = q.wid
	}
	if q.stream != "" {
		props["stream"] = q.stream
	}
	c := &logCursor{props: props}
	n, err := a.logsOnce(ctx, client, c)
	if err == nil && n == 0 && (q.lines > 0 || q.follow) {
		err = a.whyNoLines(ctx, client, q)
	}
	if err != nil || !q.follow {
		return err
	}
	return a.followLogs(ctx, &client, oneFollower{a: a, c: c})
}

// whyNoLines explains an empty answer where poolctl can tell why: the
// watcher keeps no lines (log_ring = 0; an error, -f included, as
// nothing will ever come), or --wid names no worker and no worker's
// lines (an error; with -f a warning, since a scale-up or a reload may
// start one).
func (a *app) whyNoLines(ctx context.Context, client caller, q logsQuery) error {
	opts, err := a.ask(ctx, client, "get", map[string]any{"name": q.name, "keys": []string{"log_ring", "stdout_log", "stderr_log"}})
	if err != nil {
		return err
	}
	o, _ := opts["options"].(map[string]any)
	if ring, ok := o["log_ring"].(float64); ok && ring == 0 {
		return replyError{reason: fmt.Sprintf("watcher %q keeps no lines in memory (log_ring = 0): its stdout goes to %s, its stderr to %s; to keep some: poolctl set %s log_ring 1000",
			q.name, sinkName(o["stdout_log"]), sinkName(o["stderr_log"]), q.name)}
	}
	if q.wid == 0 {
		return nil
	}
	st, err := a.ask(ctx, client, "stats", map[string]any{"name": q.name})
	if err != nil {
		return err
	}
	var wids []int
	info, _ := st["info"].(map[string]any)
	for _, v := range info {
		p, _ := v.(map[string]any)
		if w := int(num(p["wid"])); w == q.wid {
			return nil // a worker that has not written yet
		} else if w > 0 {
			wids = append(wids, w)
		}
	}
	slices.Sort(wids)
	now := "it has no workers"
	if len(wids) > 0 {
		now = "its wids: " + strings.Trim(fmt.Sprint(wids), "[]")
	}
	if q.follow {
		fmt.Fprintf(a.stderr, "poolctl: watcher %q has no worker with wid %d (%s); following in case one starts\n", q.name, q.wid, now)
		return nil
	}
	return replyError{reason: fmt.Sprintf("watcher %q has no worker with wid %d and no lines from one (%s)", q.name, q.wid, now)}
}

// sinkName says where a stdout_log or stderr_log value sends the lines.
func sinkName(v any) string {
	switch s, _ := v.(string); s {
	case "stderr", "":
		return "poold's own log"
	case "none":
		return "nowhere"
	default:
		return s
	}
}

// sayMissed says on stderr how many lines c's last batch missed.
func (a *app) sayMissed(c *logCursor) {
	if c.missed > 0 {
		fmt.Fprintf(a.stderr, "poolctl: %d lines missed (written faster than the ring of %s keeps them)\n", c.missed, c.props["name"])
	}
}

// ask sends one command for poolctl's own use and returns its ok reply.
func (a *app) ask(ctx context.Context, client caller, command string, props map[string]any) (reply, error) {
	what := command
	if name, _ := props["name"].(string); name != "" {
		what += " " + name
	}
	_, r, err := a.roundTrip(ctx, client, call{command: command, what: what, props: props}, a.timeoutFor(noWait))
	if err != nil {
		return nil, err
	}
	if st, _ := r["status"].(string); st == "error" {
		reason, _ := r["reason"].(string)
		return nil, replyError{reason: reason, errno: int(num(r["errno"]))}
	}
	return r, nil
}

// logsOnce asks for the first batch of c's watcher (the last
// props["lines"]), prints it, moves c past it and returns the number of
// lines printed.
func (a *app) logsOnce(ctx context.Context, client caller, c *logCursor) (int, error) {
	recs, last, err := a.fetchLogs(ctx, client, c)
	if err != nil {
		return 0, err
	}
	a.sayMissed(c)
	recs = a.cutSince(recs, c.props["name"])
	n := len(recs)
	recs, err = a.withEvents(ctx, client, recs)
	if perr := a.printLogs(recs); perr != nil {
		return 0, runError{perr}
	}
	c.last = last
	return n, err
}

// fetchLogs asks for one batch of c's watcher (c.props) and returns its
// records and the ring's last seq; how many lines it missed goes to
// c.missed. The ring's epoch goes to c.epoch; when it differs from a
// non-zero c.epoch the batch is dropped and the error is errStartOver.
func (a *app) fetchLogs(ctx context.Context, client caller, c *logCursor) ([]logRecord, uint64, error) {
	r, err := a.ask(ctx, client, "logs", c.props)
	if err != nil {
		return nil, 0, err
	}
	was := c.epoch
	if c.epoch = uint64(num(r["epoch"])); was != 0 && c.epoch != was {
		return nil, 0, errStartOver
	}
	c.missed = uint64(num(r["missed"]))
	raw, _ := json.Marshal(r["lines"])
	var recs []logRecord
	if err := json.Unmarshal(raw, &recs); err != nil {
		return nil, 0, runError{fmt.Errorf("logs: poold's lines are not records: %w", err)}
	}
	return recs, uint64(num(r["last"])), nil
}
