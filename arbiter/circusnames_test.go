package arbiter

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/workertest"
)

// TestSetAndAddTakeCircusOptionNames: set and add take the Circus option
// names circusd takes, mapped as the circus.ini translator maps them;
// poold refused each as an unknown option (errno 3), without the poold
// name to use.
func TestSetAndAddTakeCircusOptionNames(t *testing.T) {
	h := start(t, &configs.Config{Watchers: []configs.Watcher{testWatcher("web", "sleep", 0)}}, Options{NoCgroups: true})
	get := func(name string, keys ...any) map[string]any {
		t.Helper()
		return h.do("get", map[string]any{"name": name, "keys": keys})["options"].(Ordered).Values
	}
	h.do("set", map[string]any{"name": "web", "options": map[string]any{"max_retry": 7.0, "rlimits": map[string]any{"core": 0.0}}})
	if got := get("web", "flapping_max_retry")["flapping_max_retry"]; got != 7 {
		t.Errorf("set max_retry 7: flapping_max_retry %v", got)
	}
	// One limit changes; the others stay, as circusd's set rlimit_nofile.
	h.do("set", map[string]any{"name": "web", "options": map[string]any{"rlimit_nofile": 256.0}})
	if got := fmt.Sprint(get("web", "rlimits")["rlimits"]); got != "map[core:0 nofile:256]" {
		t.Errorf("set rlimit_nofile 256: rlimits %s", got)
	}
	// What poold always does is accepted (circusctl sends strings).
	h.do("set", map[string]any{"name": "web", "options": map[string]any{
		"close_child_stdin": "true", "close_child_stdout": false, "close_child_stderr": "false"}})
	// close_child_stdout in a set changes nothing while the watcher
	// runs, as circusd's set_opt: the output keeps going to its sink and
	// the log says so; get answers what was set. It switched the sink to
	// "none", and false did not bring it back.
	sink := get("web", "stdout_log")["stdout_log"]
	h.do("set", map[string]any{"name": "web", "options": map[string]any{"close_child_stdout": true}})
	if o := get("web", "stdout_log", "close_child_stdout", "close_child_stderr"); o["stdout_log"] != sink ||
		o["close_child_stdout"] != true || o["close_child_stderr"] != false {
		t.Errorf("set close_child_stdout true: get says %v, want stdout_log %v and close_child_stdout true", o, sink)
	}
	if !strings.Contains(h.log.String(), "set close_child_stdout changes nothing while the watcher runs") {
		t.Errorf("set close_child_stdout: the log does not say it changes nothing:\n%s", h.log.String())
	}
	h.do("set", map[string]any{"name": "web", "options": map[string]any{"close_child_stdout": "false", "max_retry": 8.0}})
	if o := get("web", "stdout_log", "close_child_stdout", "flapping_max_retry"); o["stdout_log"] != sink ||
		o["close_child_stdout"] != false || o["flapping_max_retry"] != 8 {
		t.Errorf("set close_child_stdout false with max_retry 8: get says %v, want stdout_log %v, false and 8", o, sink)
	}
	// add creates the watcher, and there circusd applies it: the output
	// is discarded (the "none" sink, as the circus.ini translator maps it).
	h.do("add", map[string]any{"name": "quiet", "cmd": "/bin/true", "options": map[string]any{"close_child_stdout": true}})
	if o := get("quiet", "stdout_log", "close_child_stdout"); o["stdout_log"] != configs.LogToNone || o["close_child_stdout"] != true {
		t.Errorf("add close_child_stdout true: get says %v, want stdout_log none and true", o)
	}
	// stop_children is a real option, as in circusd (circusctl sends a bool).
	h.do("set", map[string]any{"name": "web", "options": map[string]any{"stop_children": false}})
	if got := get("web", "stop_children")["stop_children"]; got != false {
		t.Errorf("set stop_children false: get says %v", got)
	}

	// shell: true runs cmd and args through /bin/sh -c, each word quoted
	// as circusd does; the worker really runs.
	h.do("add", map[string]any{"name": "sh", "cmd": os.Args[0], "args": []any{"it's"}, "options": map[string]any{
		"env": []any{workertest.Env + "=sleep", quickExit}, "shell": true}, "start": true, "waiting": true})
	line := configs.QuoteCommand([]string{os.Args[0], "it's"})
	// get cmd answers the cmd as given, as circusd's (r65 protocol F5);
	// args the line poold runs.
	if o := get("sh", "cmd", "args"); o["cmd"] != os.Args[0] || o["args"] != configs.QuoteCommand([]string{"-c", line}) {
		t.Errorf("add shell true: cmd %v args %v, want cmd %s and args -c %q", o["cmd"], o["args"], os.Args[0], line)
	}
	if n := h.do("numprocesses", map[string]any{"name": "sh"})["numprocesses"]; n != 1 {
		t.Errorf("add shell true with start: %v workers", n)
	}
	h.do("set", map[string]any{"name": "sh", "options": map[string]any{"shell": true}}) // already: unchanged
	if o := get("sh", "args"); o["args"] != configs.QuoteCommand([]string{"-c", line}) {
		t.Errorf("set shell true again wrapped twice: %v", o["args"])
	}

	for _, tc := range []struct {
		name string
		opts map[string]any
		want string
	}{
		{"web", map[string]any{"close_child_stdin": false}, "close_child_stdin: poold always gives workers /dev/null as stdin"},
		{"web", map[string]any{"close_child_stderr": "maybe"}, "close_child_stderr: must be true or false"},
		{"web", map[string]any{"max_retry": 3.0, "flapping_max_retry": 4.0}, "max_retry is Circus's name for flapping_max_retry; give one of them"},
		{"web", map[string]any{"shell": "maybe"}, "shell: must be true or false"},
		{"web", map[string]any{"rlimit_bogus": 1.0}, `unknown resource limit "bogus"`},
		{"sh", map[string]any{"shell": false}, "set cmd and args instead"},
	} {
		before := fmt.Sprint(h.do("options", map[string]any{"name": tc.name})["options"])
		r := h.a.Do(context.Background(), Request{Command: "set", Properties: map[string]any{"name": tc.name, "options": tc.opts}})
		if r["errno"] != ErrnoBadProperty || !strings.Contains(fmt.Sprint(r["reason"]), tc.want) {
			t.Errorf("set %s %v: %v, want errno %d saying %q", tc.name, tc.opts, r, ErrnoBadProperty, tc.want)
		}
		if after := fmt.Sprint(h.do("options", map[string]any{"name": tc.name})["options"]); after != before {
			t.Errorf("refused set %v changed the options:\n%s\n%s", tc.opts, before, after)
		}
	}
}
