package web

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/poold/poold/arbiter"
)

// watcherView is what the page knows about one watcher. Its maps hold only
// JSON-native values (they come from a JSON round trip or from events), so
// they marshal cheaply and never alias the backend's data.
type watcherView struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	// Reason says what is wrong (flapping, failed, ...), when poold says.
	Reason string `json:"reason,omitempty"`
	// ReasonFine: Reason only tells of one-shot workers that ended fine
	// ("status NAME"'s reason_fine), no warning.
	ReasonFine bool `json:"reason_fine,omitempty"`
	// Slots are poold's per-slot records from "status NAME" (wid, state,
	// pid, restarts, last_exit, retry_at), absent from Circus-shaped
	// replies.
	Slots []any `json:"slots,omitempty"`
	// Restarts is "status NAME"'s tally of the watcher's restarts (total,
	// by_reason, last), absent from Circus-shaped replies: a worker
	// replaced for a limit or a failed health check starts in another
	// wid, so the slots alone do not show it.
	Restarts map[string]any `json:"restarts,omitempty"`
	// Bounds are the min and max of its size from "status NAME" (an
	// elastic pool's min_workers..max_workers, an on_demand pool's
	// 0..numprocesses): its options say its current target only.
	Bounds  map[string]any            `json:"bounds,omitempty"`
	Options map[string]any            `json:"options"`
	Procs   map[string]map[string]any `json:"procs"` // pid -> process info
	// V is the view's version as its last refresh read it (hubsync.go).
	V string `json:"v,omitempty"`
}

// stateView is the whole console state: what a new page starts from.
type stateView struct {
	Loaded   bool             `json:"loaded"`
	Error    string           `json:"error,omitempty"` // last refresh failure
	Watchers []*watcherView   `json:"watchers"`        // sorted by name
	Sockets  []map[string]any `json:"sockets"`
	Poold    map[string]any   `json:"poold,omitempty"`
}

// backendError is a failed reply.
type backendError struct {
	command string
	errno   int
	reason  string
	notRun  bool // the reply's not_run: poold upgrading in place, most likely
}

func (e *backendError) Error() string {
	return fmt.Sprintf("%s: %s (errno %d)", e.command, e.reason, e.errno)
}

// call runs one command and returns its reply as JSON-native values.
func call(ctx context.Context, b Backend, command string, props map[string]any) (map[string]any, error) {
	rep := b.Do(ctx, arbiter.Request{ID: "web", Command: command, Properties: props})
	m, err := plain(rep)
	if err != nil {
		return nil, fmt.Errorf("%s: reply is not JSON: %w", command, err)
	}
	// "status" is "error" on failure; otherwise "ok", or the watcher's
	// status for the status command (Circus overloads the field).
	if s, _ := m["status"].(string); s == "error" || s == "" {
		reason, _ := m["reason"].(string)
		if reason == "" {
			reason = "no reason given"
		}
		notRun, _ := m[arbiter.NotRun].(bool)
		return nil, &backendError{command: command, errno: int(toFloat(m["errno"])), reason: reason, notRun: notRun}
	}
	return m, nil
}

// setStatus takes the status (poold's finer word, its state, which says
// flapping or failed where Circus's word in status says active or
// stopped; status from a circusd), reason, slots and size bounds of a "status
// NAME" reply.
func (w *watcherView) setStatus(st map[string]any) {
	w.Status = fmt.Sprint(st["status"])
	if fine, ok := st["state"].(string); ok {
		w.Status = fine
	}
	w.Reason, _ = st["reason"].(string)
	w.ReasonFine, _ = st["reason_fine"].(bool)
	w.Slots, _ = st["slots"].([]any)
	w.Restarts, _ = st["restarts"].(map[string]any)
	w.Bounds = nil
	if size, ok := st["size"].(map[string]any); ok && size["min"] != nil && size["max"] != nil {
		w.Bounds = map[string]any{"min": size["min"], "max": size["max"]}
	}
}

// statesOf is a status reply's statuses, each in poold's finer word
// where it gives one (states), as the console shows them.
func statesOf(st map[string]any) map[string]any {
	statuses, _ := st["statuses"].(map[string]any)
	fine, _ := st["states"].(map[string]any)
	out := make(map[string]any, len(statuses))
	for name, word := range statuses {
		if f, ok := fine[name]; ok {
			word = f
		}
		out[name] = word
	}
	return out
}

func procsOf(v any) map[string]map[string]any {
	out := map[string]map[string]any{}
	m, _ := v.(map[string]any)
	for pid, info := range m {
		if im, ok := info.(map[string]any); ok {
			out[pid] = pageProc(im)
		}
	}
	return out
}

// pageFields are the fields of a process's stats that the console page
// uses (static/*.js). The rest of Circus's (argv, cmdline, username, vms,
// mem_info2, ...) were half of every stats message: about 0.3 MB/s to
// each console at 2,000 workers. cgroup_memory, its peak and memory_max
// come only for a worker under memory_max (arbiter/cgmem.go).
var pageFields = []string{"pid", "wid", "state", "proc_state", "cpu", "mem_info1", "rss", "started", "create_time", "age", "restarts",
	"cgroup_memory", "cgroup_memory_peak", "memory_max"}

// pageProc keeps of a process's stats what the page uses, and of its
// children's (a tree: children of children) what their sums need.
func pageProc(info map[string]any) map[string]any {
	out := make(map[string]any, len(pageFields)+1)
	for _, k := range pageFields {
		if v, ok := info[k]; ok {
			out[k] = v
		}
	}
	if cs, ok := info["children"].([]any); ok {
		kids := make([]any, 0, len(cs))
		for _, c := range cs {
			if m, ok := c.(map[string]any); ok {
				kids = append(kids, pageProc(m))
			}
		}
		out["children"] = kids
	}
	return out
}

// notRun tells a refusal of a command poold did not run, to be sent
// again (an upgrade in place), from a failure.
func notRun(err error) bool {
	be, ok := err.(*backendError)
	return ok && be.notRun
}

func isUnknown(err error) bool {
	be, ok := err.(*backendError)
	return ok && be.errno == arbiter.ErrnoBadProperty
}

func isUnknownCommand(err error) bool {
	be, ok := err.(*backendError)
	return ok && be.errno == arbiter.ErrnoUnknownCmd
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

// toFloat reads a number of any Go numeric type, or a numeric string.
func toFloat(v any) float64 {
	switch n := v.(type) {
	case float64:
		return n
	case interface{ Float64() float64 }: // procinfo.Float
		return n.Float64()
	case float32:
		return float64(n)
	case int:
		return float64(n)
	case int32:
		return float64(n)
	case int64:
		return float64(n)
	case uint:
		return float64(n)
	case uint32:
		return float64(n)
	case uint64:
		return float64(n)
	case json.Number:
		f, _ := n.Float64()
		return f
	case string:
		f, _ := strconv.ParseFloat(n, 64)
		return f
	}
	return 0
}

// pidKey turns a pid field into the model's key.
func pidKey(v any) string {
	f := toFloat(v)
	if f <= 0 || f != math.Trunc(f) {
		return ""
	}
	return strconv.FormatInt(int64(f), 10)
}

// treeUsage sums the cpu and resident bytes of a sampled process and of
// its children, nested under "children" as the stats give them.
func treeUsage(info map[string]any) (cpu, rss float64) {
	cpu, rss = toFloat(info["cpu"]), rssBytes(info)
	for _, c := range asSlice(info["children"]) {
		if child, ok := c.(map[string]any); ok {
			cc, cr := treeUsage(child)
			cpu += cc
			rss += cr
		}
	}
	return cpu, rss
}

// rssBytes reads a process's resident size: an "rss" number in bytes if the
// sampler gives one, else the human mem_info1 string ("14M", "1.2G").
func rssBytes(info map[string]any) float64 {
	if v, ok := info["rss"]; ok {
		return toFloat(v)
	}
	s, _ := info["mem_info1"].(string)
	return parseSize(s)
}

func parseSize(s string) float64 {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0
	}
	mult := 1.0
	switch strings.ToUpper(s[len(s)-1:]) {
	case "B":
		s = s[:len(s)-1]
	case "K":
		mult, s = 1<<10, s[:len(s)-1]
	case "M":
		mult, s = 1<<20, s[:len(s)-1]
	case "G":
		mult, s = 1<<30, s[:len(s)-1]
	case "T":
		mult, s = 1<<40, s[:len(s)-1]
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return 0
	}
	return f * mult
}
