package main

import (
	"encoding/json"
	"slices"
	"strconv"
	"testing"

	"github.com/poold/poold/watcher/proctest"
)

// caseIni and caseConfig are the same watcher, its name in mixed case, for
// circusd and for poold.
const caseIni = `[watcher:Other]
cmd = /bin/sleep
args = 3600
`

const caseConfig = `
[arbiter]
ENDPOINTS
[watchers.Other]
cmd = "/bin/sleep"
args = ["3600"]
graceful_timeout = "1s"
`

// TestCircusdNameCase: circusd keeps a watcher's name as written in
// status's statuses, stats's infos, and echoes stats's name and process
// as sent; only list (and the topics) lower-case it. poold lower-cased
// the name everywhere and echoed process as a number (r65 protocol F4).
func TestCircusdNameCase(t *testing.T) {
	circusPeer(t)
	cd := startCircusd(t, caseIni)
	p := startPoold(t, caseConfig)
	c := dialControl(t, p)
	proctest.Eventually(t, "poold's worker", func() bool { return goCount(t, c) == 1 })
	// circusd refuses commands while it starts its watchers ("arbiter is
	// already running ..."): wait until every one is active.
	proctest.Eventually(t, "circusd's watchers active", func() bool {
		st, _ := circusClient(t, cd.control, []map[string]any{{"command": "status", "properties": map[string]any{}}})[0].Reply["statuses"].(map[string]any)
		for _, s := range st {
			if s != "active" {
				return false
			}
		}
		return len(st) > 0
	})
	reqs := []map[string]any{
		{"command": "list", "properties": map[string]any{}},
		{"command": "status", "properties": map[string]any{}},
		{"command": "stats", "properties": map[string]any{}},
		{"command": "stats", "properties": map[string]any{"name": "OTHER"}},
		{"command": "add", "properties": map[string]any{"name": "MyApp", "cmd": "sleep 500", "start": true, "waiting": true}},
		{"command": "status", "properties": map[string]any{}},
		{"command": "stats", "properties": map[string]any{"name": "MyApp"}},
		{"command": "list", "properties": map[string]any{}},
		// r65 protocol F5: options and get have circusd's keys, with
		// its values, for a watcher of the file and for an added one;
		// get cmd of a shell watcher is the cmd as given.
		{"command": "options", "properties": map[string]any{"name": "other"}},
		{"command": "options", "properties": map[string]any{"name": "myapp"}},
		{"command": "get", "properties": map[string]any{"name": "Other", "keys": []string{"executable", "stdout_stream_conf", "stderr_stream_conf"}}},
		{"command": "get", "properties": map[string]any{"name": "Other", "keys": []string{"__name__"}}},
		{"command": "add", "properties": map[string]any{"name": "sh1", "cmd": "echo \"$0 x\" > /dev/null; sleep 500", "options": map[string]any{"shell": true}}},
		{"command": "get", "properties": map[string]any{"name": "sh1", "keys": []string{"cmd", "args", "shell", "env"}}},
	}
	both := [2][]clientReply{circusClient(t, cd.control, reqs), circusClient(t, ctlEndpoint(p), reqs)}
	for i, req := range reqs {
		var got [2]any
		for side, replies := range both {
			r := replies[i].Reply
			switch req["command"] {
			case "list":
				ws, _ := r["watchers"].([]any)
				got[side] = slices.DeleteFunc(ws, func(w any) bool { return w == "circusd-stats" })
			case "status":
				got[side] = keysOf(r["statuses"])
			case "stats":
				got[side] = []any{keysOf(r["infos"]), r["name"]}
			case "options", "get":
				opts, _ := r["options"].(map[string]any)
				picked := map[string]any{}
				for _, k := range []string{"__name__", "executable", "stdout_stream_conf", "stderr_stream_conf", "env", "cmd", "args", "shell"} {
					if v, ok := opts[k]; ok {
						picked[k] = v
					}
				}
				got[side] = []any{r["status"], picked}
			case "add":
				got[side] = []any{r["status"], r["reason"]}
			}
		}
		a, _ := json.Marshal(got[0])
		b, _ := json.Marshal(got[1])
		if string(a) != string(b) {
			t.Errorf("%s %v: circusd %s, poold %s", req["command"], req["properties"], a, b)
		}
	}
	// process: each side's own worker, its pid sent as a string.
	for side, endpoint := range []string{cd.control, ctlEndpoint(p)} {
		pids := circusClient(t, endpoint, []map[string]any{{"command": "list", "properties": map[string]any{"name": "myapp"}}})[0].Reply["pids"].([]any)
		pid := strconv.Itoa(int(pids[0].(float64)))
		r := circusClient(t, endpoint, []map[string]any{{"command": "stats", "properties": map[string]any{"name": "MyApp", "process": pid}}})[0].Reply
		if r["process"] != pid {
			t.Errorf("side %d: stats MyApp process %q echoes %#v, want the string as sent (circusd's)", side, pid, r["process"])
		}
	}
}

// keysOf is the sorted keys of a reply's object, circusd-stats left out.
func keysOf(v any) []string {
	m, _ := v.(map[string]any)
	var keys []string
	for k := range m {
		if k != "circusd-stats" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}
