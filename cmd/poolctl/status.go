package main

import (
	"bytes"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// statusHelp is the long help of `poolctl status`.
const statusHelp = `Without NAME: every watcher and its status, with the reason next to a
watcher that has one. With NAME: its status on the first line; then, when
something is wrong, the reason, and the worker slots that are not running
normally (backoff, paused, failed, exited) with how their last worker ended
and when poold tries again. Workers still stopping in a watcher that runs
(the old ones of a reload draining their requests or jobs) get a line
("stopping: 2 workers still draining: wid 3 (pid 103, SIGKILL in 4.1s),
...": poold SIGKILLs a worker still there at its graceful_timeout).

READY is how many of a watcher's workers are ready (serving), of the
number it runs (numprocesses): "3/4"; during a rolling reload old and new
both count ("5/4" while a new worker joins before an old one leaves); "-"
for a stopped watcher. It comes in the status reply (its "sizes"); a
poold too old to send it gets no READY column.

RESTARTS (shown once a watcher had one) is how many times poold started
a watcher's workers again without being asked, since the watcher was
added: a crash or kill, an OOM kill, a failed readiness or health check,
max_rss or max_cpu, a start that failed, max_age. A reload, a stop or a
restart asked for is none. With NAME, a "restarts:" line gives them by
reason, and the last one: when, which worker, and why.

Statuses:
  active    its workers run (some slots may be in backoff after a crash)
  starting  its workers are starting, not all ready yet
  stopping  its workers are being stopped
  stopped   stopped on request; no workers. A one-shot (respawn = false)
            whose workers all ended with status 0 (or one of its
            no_respawn_exit_codes) is stopped too: its work is done
  flapping  workers keep exiting soon after they start: restarts of the
            failing slots are paused, healthy workers keep running
  failed    poold gave up on some slots (they stay empty until 'poolctl
            start' or 'poolctl reload'); healthy workers keep running.
            A one-shot whose worker ended with another status or a
            signal is failed (poolctl logs NAME shows why)

An elastic pool (on_demand, min_workers/max_workers) also shows its size:
WORKERS "current (min..max)" in the table; with NAME, its size, bounds,
accept queue and last scale decision.

Then a line for each watcher that dropped worker log lines, by cause: a
log file that could not be written (poold's log and the log_error event
name the file and the error), or poold's log queue, full with the lines
of a watcher on the "stderr" sink (give a chatty watcher a log file).

With NAME, also a line for each key that runs otherwise than the config
file says: a set, incr or decr changed it, and the reloads since kept it
because the file left that key alone ("set at run time: max_cpu = 40
(file: 0), by set from uid 0 ... (poolctl) 2h05m ago"; which command and
when only if this poold saw it). Putting an old file back does not undo
such a change: 'poolctl reset NAME [KEY...]' does (it gives them the
file's values again).

With --json, poold's reply as is (reason, reasons, slots, overrides and
logs included).

status exits 0 whatever the states, as circusctl's does. With
--exit-code it prints the same and exits 4 when a watcher that should run
does not: failed, flapping, starting, or active with fewer workers ready
than it runs (a slot in backoff); stderr names each. A watcher stopped on
purpose and a one-shot's worker that ended as configured are fine. (3
stays "poold unreachable", so a check tells the two apart.)`

// normalSlots are the slot states that status NAME does not list.
var normalSlots = map[string]bool{"running": true, "starting": true, "ready": true, "stopping": true}

// formatStatus prints one watcher's status (and what is wrong with it), or
// a WATCHER STATUS [REASON] table.
func formatStatus(w io.Writer, r reply) error {
	st, ok := stateWords(r)
	if !ok {
		return formatWatcherStatus(w, r)
	}
	reasons, _ := r["reasons"].(map[string]any)
	withReason := false
	for _, v := range reasons {
		if s, _ := v.(string); s != "" {
			withReason = true
		}
	}
	sizes, _ := r["sizes"].(map[string]any)
	elastic := anyElastic(sizes) // WORKERS only when a pool is elastic
	counted := anyReady(sizes)
	restarts, _ := r["restarts"].(map[string]any)
	restarted := false // RESTARTS only when a watcher had one
	for _, v := range restarts {
		restarted = restarted || num(v) > 0
	}
	return writeTrimmed(w, func(t io.Writer) {
		head := "WATCHER\tSTATUS"
		if counted {
			head += "\tREADY"
		}
		if elastic {
			head += "\tWORKERS"
		}
		if restarted {
			head += "\tRESTARTS"
		}
		if withReason {
			head += "\tREASON"
		}
		fmt.Fprintln(t, head)
		for _, name := range sortedKeys(st) {
			fmt.Fprintf(t, "%s\t%s", name, render(st[name]))
			if counted {
				fmt.Fprintf(t, "\t%s", readyCell(sizes[name], st[name]))
			}
			if elastic {
				status, _ := st[name].(string)
				fmt.Fprintf(t, "\t%s", sizeCell(sizes[name], status))
			}
			if restarted {
				fmt.Fprintf(t, "\t%s", render(restarts[name]))
			}
			if withReason {
				// Every row has the cell, so the column stays aligned;
				// writeTrimmed drops the padding of an empty one.
				why, _ := reasons[name].(string)
				fmt.Fprintf(t, "\t%s", why)
			}
			fmt.Fprintln(t)
		}
	})
}

// readyCell is "ready/wanted" from a watcher's row of the status
// reply's sizes: its workers that are ready (serving), of the size in
// force; "-" for a watcher at rest (stopped, a one-shot done), where
// "0/4" would read as a shortage.
func readyCell(size any, status any) string {
	m, _ := size.(map[string]any)
	ready, ok := m["ready"].(float64)
	cur, ok2 := m["current"].(float64)
	if !ok || !ok2 || (ready == 0 && status == "stopped") {
		return "-"
	}
	return fmt.Sprintf("%d/%d", int(ready), int(cur))
}

// anyReady reports whether poold sent ready counts in sizes (builds
// before r57 did not: no READY column then).
func anyReady(sizes map[string]any) bool {
	for _, v := range sizes {
		if m, ok := v.(map[string]any); ok {
			if _, ok := m["ready"]; ok {
				return true
			}
		}
	}
	return false
}

// formatWatcherStatus prints "status NAME": the status word alone on the
// first line (Circus's output, which scripts compare; poold's finer word,
// stateWord), then the reason and
// the slots that are not running normally, when poold reports them.
func formatWatcherStatus(w io.Writer, r reply) error {
	status := stateWord(r)
	if _, err := fmt.Fprintln(w, render(status)); err != nil {
		return err
	}
	if why, _ := r["reason"].(string); why != "" {
		if _, err := fmt.Fprintf(w, "reason: %s\n", why); err != nil {
			return err
		}
	}
	now := time.Now()
	if t, ok := r["time"].(float64); ok && t > 0 {
		now = time.Unix(0, int64(t*1e9)) // poold's clock: retry_at is on it
	}
	if err := writeSize(w, r["size"], status, now); err != nil {
		return err
	}
	if line := restartsLine(r["restarts"], now); line != "" {
		if _, err := fmt.Fprintln(w, line); err != nil {
			return err
		}
	}
	for _, line := range overrideLines(r["overrides"], now) {
		if _, err := fmt.Fprintln(w, line); err != nil {
			return err
		}
	}
	if line := drainingLine(r["slots"], status); line != "" {
		if _, err := fmt.Fprintln(w, line); err != nil {
			return err
		}
	}
	slots := troubledSlots(r["slots"])
	if len(slots) == 0 {
		return nil
	}
	return writeTrimmed(w, func(t io.Writer) {
		fmt.Fprintln(t, "WID\tSTATE\tPID\tRESTARTS\tRETRY\tLAST EXIT")
		for _, s := range slots {
			fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%s\t%s\n", render(s["wid"]), render(s["state"]), orDash(s["pid"]),
				render(s["restarts"]), retryIn(s["retry_at"], now), render(s["last_exit"]))
		}
	})
}

// overrideLines words the status reply's overrides, the keys that run
// otherwise than the config file says because a set, incr or decr
// changed them and a reload kept them (the file left them alone):
// "set at run time: max_cpu = 40 (file: 0), by set from uid 0 ... 2h05m ago".
func overrideLines(v any, now time.Time) []string {
	list, _ := v.([]any)
	var out []string
	for _, o := range list {
		m, ok := o.(map[string]any)
		if !ok {
			continue
		}
		line := fmt.Sprintf("set at run time: %s = %s (file: %s)", render(m["key"]), render(m["value"]), render(m["file"]))
		if by, _ := m["set_by"].(string); by != "" {
			line += ", by " + by
			if at, ok := m["set_at"].(float64); ok && at > 0 {
				line += " " + humanAge(max(0, float64(now.UnixNano())/1e9-at)) + " ago"
			}
		}
		out = append(out, line)
	}
	return out
}

// troubledSlots picks the slots whose state is not a normal one, by wid.
func troubledSlots(v any) []map[string]any {
	list, _ := v.([]any)
	var out []map[string]any
	for _, s := range list {
		m, ok := s.(map[string]any)
		if !ok {
			continue
		}
		if st, _ := m["state"].(string); !normalSlots[st] {
			out = append(out, m)
		} else if why, _ := m["recycle"].(string); why != "" {
			// A ready worker being replaced: its replacement may wait.
			m["state"] = st + ", being replaced: " + why
			out = append(out, m)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return num(out[i]["wid"]) < num(out[j]["wid"]) })
	return out
}

// drainShown is how many draining workers drainingLine names.
const drainShown = 5

// drainingLine words the workers still stopping in a watcher that runs
// (the old workers of a reload finishing their requests or jobs, up to
// graceful_timeout): "stopping: 2 workers still draining: wid 3 (pid
// 103, SIGKILL in 4.1s), wid 4 (pid 104, SIGKILL in 4.1s)": the SIGKILL
// that ends a drain at its graceful_timeout; "" when none is, or the watcher itself is
// stopping, which its status says.
func drainingLine(v any, status string) string {
	if status == "stopping" || status == "stopped" {
		return ""
	}
	list, _ := v.([]any)
	var who []string
	n := 0
	for _, s := range list {
		m, ok := s.(map[string]any)
		if st, _ := m["state"].(string); !ok || st != "stopping" {
			continue
		}
		n++
		if n <= drainShown {
			pid := "pid " + render(m["pid"])
			if k := killIn(m["kill_in"]); k != "" {
				pid += ", " + k
			}
			who = append(who, fmt.Sprintf("wid %s (%s)", render(m["wid"]), pid))
		}
	}
	if n == 0 {
		return ""
	}
	if n > drainShown {
		who = append(who, fmt.Sprintf("and %d more", n-drainShown))
	}
	noun := "workers"
	if n == 1 {
		noun = "worker"
	}
	return fmt.Sprintf("stopping: %d %s still draining: %s", n, noun, strings.Join(who, ", "))
}

// killIn words what is left of a draining worker's grace period
// (kill_in, seconds): "SIGKILL in 4.1s"; "" from a poold that does not
// send it.
func killIn(v any) string {
	f, ok := v.(float64)
	if !ok {
		return ""
	}
	return "SIGKILL in " + time.Duration(f*float64(time.Second)).Round(100*time.Millisecond).String()
}

// orDash prints a number where 0 means none (a slot's pid) as "-".
func orDash(v any) string {
	if f, ok := v.(float64); ok && f == 0 {
		return "-"
	}
	return render(v)
}

// retryIn prints a slot's retry_at (unix seconds, 0 = none) as "in 3s".
func retryIn(v any, now time.Time) string {
	at, ok := v.(float64)
	if !ok || at <= 0 {
		return "-"
	}
	d := at - float64(now.UnixNano())/1e9
	if d < 1 {
		return "now"
	}
	return "in " + humanAge(d)
}

// writeTrimmed writes a tab-separated table without the padding that an
// empty last cell leaves at the end of a line.
func writeTrimmed(w io.Writer, fill func(t io.Writer)) error {
	if rs, ok := w.(*rawSink); ok {
		fill(rs)
		return nil
	}
	var b bytes.Buffer
	t := newTable(&b)
	fill(t)
	if err := t.Flush(); err != nil {
		return err
	}
	var out strings.Builder
	for _, line := range strings.SplitAfter(b.String(), "\n") {
		body, nl := strings.CutSuffix(line, "\n")
		out.WriteString(strings.TrimRight(body, " "))
		if nl {
			out.WriteByte('\n')
		}
	}
	_, err := io.WriteString(w, out.String())
	return err
}

// formatStatusLogs is status, then a line for each cause of the worker
// log lines a watcher dropped, if any.
func formatStatusLogs(w io.Writer, r reply) error {
	if err := formatStatus(w, r); err != nil {
		return err
	}
	c, _ := r["logs"].(map[string]any)
	if _, all := r["statuses"]; !all && c != nil {
		c = map[string]any{"": c}
	}
	for _, name := range sortedKeys(c) {
		m, _ := c[name].(map[string]any)
		prefix := ""
		if name != "" {
			prefix = name + ": "
		}
		for _, line := range droppedLines(m, time.Now()) {
			if _, err := fmt.Fprintf(w, "%s%s\n", prefix, line); err != nil {
				return err
			}
		}
	}
	return nil
}

// droppedLines words a watcher's logs counters: the lines dropped for
// each cause poold counted (dropped_file, dropped_queue, dropped_stderr),
// and those of no known cause (from a poold that counts only dropped in
// all). Each cause gets its own remedy: the queue's drops used to be
// worded as a file that could not be written, and those of a stderr that
// is gone (`poold cfg 2>&1 | head`) as a full queue and a chatty watcher.
func droppedLines(m map[string]any, now time.Time) []string {
	total := uint64(num(m["dropped"]))
	file, queue, stderr := uint64(num(m["dropped_file"])), uint64(num(m["dropped_queue"])), uint64(num(m["dropped_stderr"]))
	rest := total - min(total, file+queue+stderr)
	var out []string
	if file > 0 {
		out = append(out, fmt.Sprintf("%d log lines dropped%s: a log file could not be written (see poold's log or the log_error event)", file, lastDrop(m["dropped_file_at"], now)))
	}
	if queue > 0 {
		why := "(poold's drop report says why)"
		if m["stderr_sink"] == "blocked" {
			// The drop report cannot be written either: say it here.
			why = "(poold's stderr is blocked now: whoever reads it, a pipe, is not reading; make it read, or run poold under journald or with stderr to a file)"
		}
		out = append(out, fmt.Sprintf("%d log lines dropped%s: poold's log queue was full with this watcher's lines on the \"stderr\" sink %s; give a chatty watcher a log file (stdout_log, stderr_log)", queue, lastDrop(m["dropped_queue_at"], now), why))
	}
	if stderr > 0 {
		fix := "run poold with a stderr that stays open (journald, a file, not a pipe to head)"
		if m["stderr_full"] == true {
			fix = "poold's stderr is a file on a full file system (out of space, inodes or quota): free space or inodes on it (df -h, df -i); poold writes again by itself"
		}
		out = append(out, fmt.Sprintf("%d log lines dropped%s: poold's stderr failed or is gone, so its lines on the \"stderr\" sink could not be written (poolctl dstats shows log_stderr; poolctl logs still has its recent lines); %s, or give the watcher a log file (stdout_log, stderr_log)", stderr, lastDrop(m["dropped_stderr_at"], now), fix))
	}
	if rest > 0 {
		out = append(out, fmt.Sprintf("%d log lines dropped: a log file could not be written, or poold's log queue was full (see poold's log)", rest))
	}
	return out
}

// lastDrop words when a cause last dropped a line, given as unix seconds
// (dropped_CAUSE_at): " (the last 3m12s ago, at 19:02:11)", the date too
// when not today. The counts are totals since poold started: without
// the time, a drop of last week read as one going on (r57b oncall L2).
// "" from a poold that does not say.
func lastDrop(v any, now time.Time) string {
	sec, ok := v.(float64)
	if !ok || sec <= 0 {
		return ""
	}
	return " (the last " + agoAt(sec, now) + ")"
}

// agoAt words a time given as unix seconds: "3m12s ago, at 19:02:11",
// the date too when not today.
func agoAt(sec float64, now time.Time) string {
	at := time.UnixMilli(int64(sec * 1000))
	layout := "15:04:05"
	if y, m, d := at.Date(); y != now.Year() || m != now.Month() || d != now.Day() {
		layout = "2006-01-02 15:04:05"
	}
	return fmt.Sprintf("%s ago, at %s", humanAge(max(now.Sub(at).Seconds(), 0)), at.Format(layout))
}

// formatReset prints what a reset changed, "KEY: FROM -> TO" a line
// (values as JSON), or that nothing ran otherwise than the config file;
// then how the one-shots it started ended, for a waited one.
func formatReset(w io.Writer, r reply) error {
	rows, _ := r["reset"].([]any)
	if len(rows) == 0 {
		if _, err := fmt.Fprintf(w, "nothing to reset: %s runs as the config file gives it\n", render(r["name"])); err != nil {
			return err
		}
	}
	for _, row := range rows {
		m, _ := row.(map[string]any)
		if _, err := fmt.Fprintf(w, "%s: %s -> %s\n", render(m["key"]), render(m["from"]), render(m["to"])); err != nil {
			return err
		}
	}
	return formatEnded(w, r)
}
