package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// reply is a decoded reply object (arbiter.Reply, with JSON numbers as
// float64).
type reply = map[string]any

// formatter prints the human form of one command's ok reply.
type formatter func(w io.Writer, r reply) error

// formatters maps a command to its human output; a command absent here
// prints "ok".
var formatters = map[string]formatter{
	"list":           formatList,
	"status":         formatStatusLogs,
	"numwatchers":    formatNumber("numwatchers"),
	"numprocesses":   formatNumber("numprocesses"),
	"incr":           formatNumber("numprocesses"),
	"decr":           formatNumber("numprocesses"),
	"start":          formatLifecycle,
	"stop":           formatLifecycle,
	"restart":        formatLifecycle,
	"add":            formatLifecycle,
	"reload":         formatReload,
	"reloadconfig":   formatReload,
	"get":            formatOptions,
	"options":        formatOptions,
	"globaloptions":  formatOptions,
	"stats":          formatStats,
	"dstats":         formatDstats,
	"listsockets":    formatSockets,
	"reopen":         formatReopen,
	"reset":          formatReset,
	"upgrade_status": formatUpgradeStatus,
}

// formatReply prints r, the ok reply to command, for a person.
func formatReply(w io.Writer, command string, r reply) error {
	if f, ok := formatters[command]; ok {
		return f(w, r)
	}
	_, err := fmt.Fprintln(w, "ok")
	return err
}

// table is a tabwriter, or a pass-through for a rawSink.
type table interface {
	io.Writer
	Flush() error
}

func newTable(w io.Writer) table {
	if rs, ok := w.(*rawSink); ok {
		return nopFlush{rs}
	}
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

// rawSink collects a formatter's output with its cells unaligned (tabs
// kept), so the fleet view can align several hosts' rows in one table.
type rawSink struct{ bytes.Buffer }

type nopFlush struct{ io.Writer }

func (nopFlush) Flush() error { return nil }

// formatList prints watcher names (list) or pids (list NAME), one a line.
func formatList(w io.Writer, r reply) error {
	if ws, ok := r["watchers"].([]any); ok {
		for _, n := range ws {
			if _, err := fmt.Fprintln(w, render(n)); err != nil {
				return err
			}
		}
		return nil
	}
	pids, _ := r["pids"].([]any)
	for _, p := range sortedNumbers(pids) {
		if _, err := fmt.Fprintln(w, render(p)); err != nil {
			return err
		}
	}
	return nil
}

func formatNumber(key string) formatter {
	return func(w io.Writer, r reply) error {
		_, err := fmt.Fprintln(w, render(r[key]))
		return err
	}
}

// formatLifecycle prints "ok", or with a waiting reply for one watcher the
// pids it started, stopped and kept; then how each one-shot it started
// ended, when its workers all ended before it settled.
func formatLifecycle(w io.Writer, r reply) error {
	info, ok := r["info"].(map[string]any)
	if !ok {
		if _, err := fmt.Fprintln(w, "ok"); err != nil {
			return err
		}
		if err := formatStartedStopped(w, r); err != nil {
			return err
		}
		return formatEnded(w, r)
	}
	t := newTable(w)
	for _, k := range []string{"started", "stopped", "kept"} {
		pids, _ := info[k].([]any)
		fmt.Fprintf(t, "%s:\t%s\n", k, joinPids(pids))
	}
	if err := t.Flush(); err != nil {
		return err
	}
	return formatEnded(w, r)
}

// formatStartedStopped prints a line for each watcher of the reply's
// started_stopped: a reload of every watcher started it, as circusd's
// does, although it was stopped (perhaps on purpose).
func formatStartedStopped(w io.Writer, r reply) error {
	names, _ := r["started_stopped"].([]any)
	for _, n := range names {
		if _, err := fmt.Fprintf(w, "%s: started, it was stopped (a reload of every watcher starts the stopped ones, as circusd's; poolctl stop %s stops it again)\n", render(n), render(n)); err != nil {
			return err
		}
	}
	return nil
}

// formatEnded prints the reply's "ended", one line per one-shot, sorted.
func formatEnded(w io.Writer, r reply) error {
	ended, _ := r["ended"].(map[string]any)
	for _, n := range slices.Sorted(maps.Keys(ended)) {
		if _, err := fmt.Fprintln(w, render(ended[n])); err != nil {
			return err
		}
	}
	return nil
}

func joinPids(pids []any) string {
	if len(pids) == 0 {
		return "-"
	}
	parts := make([]string, 0, len(pids))
	for _, p := range sortedNumbers(pids) {
		parts = append(parts, render(p))
	}
	return strings.Join(parts, " ")
}

// formatOptions prints the "options" object as aligned "key  value" lines,
// sorted by key. stop_signal, a number on the wire as circusd sends it,
// is printed by its name, as the config and set write it (TERM, not 15);
// --json keeps the number.
func formatOptions(w io.Writer, r reply) error {
	opts, _ := r["options"].(map[string]any)
	if n, ok := opts["stop_signal"].(float64); ok {
		if name := signalName(int(n)); name != "" {
			opts = maps.Clone(opts)
			opts["stop_signal"] = name
		}
	}
	return formatKV(w, opts)
}

func formatKV(w io.Writer, m map[string]any) error {
	t := newTable(w)
	for _, k := range sortedKeys(m) {
		fmt.Fprintf(t, "%s\t%s\n", k, render(m[k]))
	}
	return t.Flush()
}

// formatDstats prints poold's own process info as key/value lines, with
// ages and times made readable.
func formatDstats(w io.Writer, r reply) error {
	info, _ := r["info"].(map[string]any)
	m := make(map[string]any, len(info))
	for k, v := range info {
		switch k {
		case "age":
			m[k] = humanAge(v)
		case "started", "create_time":
			m[k] = unixTime(v)
		case "cpu", "mem":
			m[k] = percent(v)
		case "children":
			if c, ok := v.([]any); ok {
				m[k] = len(c)
			}
		default:
			m[k] = v
		}
	}
	return formatKV(w, m)
}

// procRow is one line of the stats table.
type procRow struct {
	watcher string
	info    map[string]any
}

// formatStats prints a process table. Without a name in the reply
// (stats): one table over every watcher with a WATCHER column; with a
// name (stats NAME) or a process (stats NAME PID): those processes.
func formatStats(w io.Writer, r reply) error {
	var rows []procRow
	withWatcher := false
	switch {
	case r["infos"] != nil:
		withWatcher = true
		infos, _ := r["infos"].(map[string]any)
		for _, name := range sortedKeys(infos) {
			procs, _ := infos[name].(map[string]any)
			if len(procs) == 0 {
				rows = append(rows, procRow{watcher: name})
				continue
			}
			rows = append(rows, procRows(name, procs)...)
		}
	case r["process"] != nil:
		info, _ := r["info"].(map[string]any)
		rows = []procRow{{info: info}}
	default:
		procs, _ := r["info"].(map[string]any)
		rows = procRows(render(r["name"]), procs)
	}
	return writeProcTable(w, rows, withWatcher)
}

// procRows turns {pid: info} into rows sorted by wid, then pid.
func procRows(name string, procs map[string]any) []procRow {
	rows := make([]procRow, 0, len(procs))
	for _, v := range procs {
		info, _ := v.(map[string]any)
		rows = append(rows, procRow{watcher: name, info: info})
	}
	sort.Slice(rows, func(i, j int) bool {
		wi, wj := num(rows[i].info["wid"]), num(rows[j].info["wid"])
		if wi != wj {
			return wi < wj
		}
		return num(rows[i].info["pid"]) < num(rows[j].info["pid"])
	})
	return rows
}

func writeProcTable(w io.Writer, rows []procRow, withWatcher bool) error {
	t := newTable(w)
	fds := anyFDs(rows) // stats --extended
	cgm := anyCgroupMemory(rows)
	head := "PID\tWID\tSTATE\tCPU\tMEM\tRSS\t"
	if cgm {
		head += "CGROUP MEM\t"
	}
	head += "AGE\tRESTARTS\t"
	if fds {
		head += "FDS\t"
	}
	head += "CMD"
	if withWatcher {
		head = "WATCHER\t" + head
	}
	fmt.Fprintln(t, head)
	for _, r := range rows {
		if withWatcher {
			fmt.Fprintf(t, "%s\t", r.watcher)
		}
		if r.info == nil {
			fmt.Fprintln(t, "-\t-\t-\t-\t-\t-\t"+cgroupMemoryCell(nil, cgm)+"-\t-\t"+fdCell(nil, fds)+"(no processes)")
			continue
		}
		in := r.info
		fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%s\t%s\t%s%s\t%s\t%s%s\n",
			render(in["pid"]), render(in["wid"]), procState(in),
			percent(in["cpu"]), percent(in["mem"]), rss(in), cgroupMemoryCell(in, cgm), humanAge(in["age"]),
			render(in["restarts"]), fdCell(in, fds), render(in["cmdline"]))
		writeChildren(t, in["children"], withWatcher, fds, cgm)
	}
	return t.Flush()
}

// writeChildren prints a worker's children under it, indented, as
// circusctl stats does: a gunicorn or uvicorn master's own workers hold
// most of the memory and CPU its row does not count.
func writeChildren(t io.Writer, v any, withWatcher, fds, cgm bool) {
	children, _ := v.([]any)
	for _, c := range children {
		in, _ := c.(map[string]any)
		if in == nil {
			continue
		}
		if withWatcher {
			fmt.Fprint(t, "\t")
		}
		skip := "" // a child is counted in its worker's cgroup
		if cgm {
			skip = "\t"
		}
		fmt.Fprintf(t, "  └ %s\t\t%s\t%s\t%s\t%s\t%s%s\t\t%s%s\n",
			render(in["pid"]), childState(in), percent(in["cpu"]), percent(in["mem"]), rss(in), skip, humanAge(in["age"]), fdCell(in, fds), render(in["cmdline"]))
		writeChildren(t, in["children"], withWatcher, fds, cgm)
	}
}

// childState is what the kernel says of a child ("sleeping"); poold
// has no state of its own for it.
func childState(in map[string]any) string {
	for _, k := range []string{"proc_state", "status"} {
		if s, ok := in[k].(string); ok && s != "" {
			return s
		}
	}
	return "-"
}

// procState is poold's state of the worker, with what the kernel says
// of it when that belies the state: a worker stopped by SIGSTOP (or a
// debugger) serves nobody, though poold counts it ready.
func procState(in map[string]any) string {
	state := render(in["state"])
	if r, _ := in["recycle"].(bool); r {
		state += ", being replaced" // status NAME says whether that waits
	}
	if k := killIn(in["kill_in"]); k != "" && state == "stopping" {
		state += " (" + k + ")"
	}
	switch ps, _ := in["proc_state"].(string); ps {
	case "stopped", "tracing-stop":
		return state + " (" + ps + ")"
	}
	return state
}

// rss is mem_info1 (already human, "14M"), else the raw rss bytes.
func rss(in map[string]any) string {
	if s, ok := in["mem_info1"].(string); ok && s != "" {
		return s
	}
	if b, ok := in["rss"].(float64); ok {
		return humanBytes(b)
	}
	return "-"
}

// formatSockets prints listsockets as FD NAME ADDRESS BACKLOG QUEUE,
// where QUEUE is the connections waiting to be accepted over the most
// that can wait ("-" from a poold or Circus that does not say).
func formatSockets(w io.Writer, r reply) error {
	socks, _ := r["sockets"].([]any)
	t := newTable(w)
	fmt.Fprintln(t, "FD\tNAME\tADDRESS\tBACKLOG\tQUEUE")
	for _, s := range socks {
		m, _ := s.(map[string]any)
		queue := "-"
		if _, ok := m["queue"]; ok {
			queue = render(m["queue"]) + "/" + render(m["queue_limit"])
		}
		fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%s\n", render(m["fd"]), render(m["name"]), sockAddress(m), render(m["backlog"]), queue)
	}
	return t.Flush()
}

func sockAddress(m map[string]any) string {
	if p, ok := m["path"].(string); ok && p != "" {
		return p
	}
	host := render(m["host"])
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return host + ":" + render(m["port"])
}

// render prints one JSON value for a person: whole numbers without a
// decimal point, absent as "-", lists and objects as compact JSON.
func render(v any) string {
	switch v := v.(type) {
	case nil:
		return "-"
	case string:
		return v
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1e15 {
			return strconv.FormatInt(int64(v), 10)
		}
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	case int:
		return strconv.Itoa(v)
	}
	// Not json.Marshal: it writes <, > and & as \u003c..., and a hook
	// "sh -c 'cmd >&2'" would read as "\u003e\u00262".
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func percent(v any) string {
	f, ok := v.(float64)
	if !ok {
		return "-"
	}
	return strconv.FormatFloat(f, 'f', 1, 64) + "%"
}

// humanAge prints seconds as 45s, 3m12s, 2h05m or 3d04h.
func humanAge(v any) string {
	f, ok := v.(float64)
	if !ok || f < 0 {
		return "-"
	}
	s := int64(f)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	case s < 86400:
		return fmt.Sprintf("%dh%02dm", s/3600, s%3600/60)
	}
	return fmt.Sprintf("%dd%02dh", s/86400, s%86400/3600)
}

// humanBytes prints a byte count as 512B, 14M, 1.5G.
func humanBytes(b float64) string {
	units := []string{"B", "K", "M", "G", "T"}
	i := 0
	for b >= 1024 && i < len(units)-1 {
		b /= 1024
		i++
	}
	if b < 10 && i > 0 && b != math.Trunc(b) {
		return strconv.FormatFloat(b, 'f', 1, 64) + units[i]
	}
	return strconv.FormatFloat(math.Round(b), 'f', 0, 64) + units[i]
}

// unixTime prints unix seconds as local RFC 3339.
func unixTime(v any) string {
	f, ok := v.(float64)
	if !ok {
		return render(v)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).Format(time.RFC3339)
}

func num(v any) float64 {
	f, _ := v.(float64)
	return f
}

func sortedNumbers(vs []any) []any {
	out := append([]any(nil), vs...)
	sort.SliceStable(out, func(i, j int) bool { return num(out[i]) < num(out[j]) })
	return out
}

func sortedKeys(m map[string]any) []string { return slices.Sorted(maps.Keys(m)) }
