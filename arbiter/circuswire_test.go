package arbiter

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/arbiter/upgrade"
	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
)

// handleJSON sends raw through Handle and returns the reply as sent.
func handleJSON(t *testing.T, h *harness, raw string) string {
	t.Helper()
	out, send := h.a.Handle(context.Background(), []byte(raw))
	if !send {
		t.Fatalf("%s: no reply", raw)
	}
	return string(out)
}

// TestGetNoKeysIsNoOptions: get with keys [] answers {"options": {}} as
// circusd does; poold refused it (errno 3). Without keys it is still an
// error naming the property.
func TestGetNoKeysIsNoOptions(t *testing.T) {
	h := start(t, &configs.Config{Watchers: []configs.Watcher{testWatcher("web", "sleep", 0)}}, Options{NoCgroups: true})
	if out := handleJSON(t, h, `{"id": "g", "command": "get", "properties": {"name": "web", "keys": []}}`); !strings.Contains(out, `"options":{}`) || !strings.Contains(out, `"status":"ok"`) {
		t.Errorf("get keys []: %s, want ok with \"options\":{}", out)
	}
	if out := handleJSON(t, h, `{"id": "g", "command": "get", "properties": {"name": "web"}}`); !strings.Contains(out, `"errno":3`) || !strings.Contains(out, `property \"keys\" must be a list`) {
		t.Errorf("get without keys: %s", out)
	}
}

// TestGetCircusNames: get answers the Circus names that set takes
// (max_retry, and the options whose one value poold always has), as
// circusd does; poold answered errno 3 "no option max_retry".
func TestGetCircusNames(t *testing.T) {
	h := start(t, &configs.Config{Watchers: []configs.Watcher{testWatcher("web", "sleep", 0)}}, Options{NoCgroups: true})
	h.do("set", map[string]any{"name": "web", "options": map[string]any{"max_retry": 3}})
	out := handleJSON(t, h, `{"id": "g", "command": "get", "properties": {"name": "web", "keys": ["max_retry", "stop_children", "close_child_stdin", "close_child_stdout", "close_child_stderr"]}}`)
	want := `"options":{"max_retry":3,"stop_children":true,"close_child_stdin":true,"close_child_stdout":false,"close_child_stderr":false}`
	if !strings.Contains(out, want) || !strings.Contains(out, `"status":"ok"`) {
		t.Errorf("get Circus names: %s, want %s", out, want)
	}
	if out := handleJSON(t, h, `{"id": "g", "command": "get", "properties": {"name": "web", "keys": ["nosuch"]}}`); !strings.Contains(out, `"errno":3`) {
		t.Errorf("get nosuch: %s, want errno 3", out)
	}
}

// TestOptionsHasCircusNames: options carries the Circus names get
// answers (max_retry, close_child_*, shell, shell_args), as circusd's
// options always does, and get answers shell and shell_args; options
// left them out and get refused shell (errno 3 "no option shell").
func TestOptionsHasCircusNames(t *testing.T) {
	quiet := testWatcher("quiet", "sleep", 0)
	quiet.Logs.Stderr = configs.LogToNone
	quiet.FlappingMaxRetry = 4
	sh := testWatcher("sh", "sleep", 0)
	sh.Cmd, sh.Args = "/bin/sh", []string{"-c", "exec sleep 1", "one", "two words"}
	h := start(t, &configs.Config{Watchers: []configs.Watcher{quiet, sh}}, Options{NoCgroups: true})
	for _, tc := range []struct {
		name string
		want map[string]any
	}{
		{"quiet", map[string]any{"max_retry": 4, "close_child_stdin": true, "close_child_stdout": false,
			"close_child_stderr": true, "shell": false, "shell_args": nil}},
		{"sh", map[string]any{"shell": true, "shell_args": "one 'two words'"}},
	} {
		opts := h.do("options", map[string]any{"name": tc.name})["options"].(map[string]any)
		for key, want := range tc.want {
			if v, ok := opts[key]; !ok || v != want {
				t.Errorf("options %s: %s is %v (present: %v), want %v", tc.name, key, v, ok, want)
			}
		}
	}
	out := handleJSON(t, h, `{"id": "g", "command": "get", "properties": {"name": "quiet", "keys": ["shell", "shell_args", "max_retry"]}}`)
	if want := `"options":{"shell":false,"shell_args":null,"max_retry":4}`; !strings.Contains(out, want) {
		t.Errorf("get quiet shell shell_args max_retry: %s, want %s", out, want)
	}
	// A set of close_child_stderr false changes nothing now, as in
	// circusd, but options then says what the set gave, as get does.
	h.do("set", map[string]any{"name": "quiet", "options": map[string]any{"close_child_stderr": false}})
	if v := h.do("options", map[string]any{"name": "quiet"})["options"].(map[string]any)["close_child_stderr"]; v != false {
		t.Errorf("options after set close_child_stderr false: %v", v)
	}
	// set shell false on a line run with shell_args is refused, as for
	// one without: it was taken as a watcher not run through the shell.
	r := h.a.Do(context.Background(), Request{Command: "set", Properties: map[string]any{"name": "sh", "options": map[string]any{"shell": false}}})
	if r["errno"] != ErrnoBadProperty || !strings.Contains(fmt.Sprint(r["reason"]), "through /bin/sh -c") {
		t.Errorf("set sh shell false: %v, want errno %d saying it runs through /bin/sh -c", r, ErrnoBadProperty)
	}
}

// TestGlobalOptionsMulticastEndpoint: poold has no multicast discovery;
// globaloptions gives multicast_endpoint "" (off, as circusd with it
// empty) instead of errno 3 "no option".
func TestGlobalOptionsMulticastEndpoint(t *testing.T) {
	h := start(t, &configs.Config{Watchers: []configs.Watcher{testWatcher("web", "sleep", 0)}}, Options{NoCgroups: true})
	if out := handleJSON(t, h, `{"id": "g", "command": "globaloptions", "properties": {"option": "multicast_endpoint"}}`); !strings.Contains(out, `"options":{"multicast_endpoint":""}`) {
		t.Errorf("globaloptions multicast_endpoint: %s", out)
	}
	if opts := h.do("globaloptions", nil)["options"].(map[string]any); opts["multicast_endpoint"] != "" {
		t.Errorf("globaloptions: multicast_endpoint %v, want \"\"", opts["multicast_endpoint"])
	}
}

// TestSetPublishesUpdatedPerOption: as circusd, set publishes one updated
// event per option it sets (one per hook for hooks), all before the
// spawns the set causes; poold published one.
func TestSetPublishesUpdatedPerOption(t *testing.T) {
	h := start(t, &configs.Config{Watchers: []configs.Watcher{testWatcher("web", "sleep", 1)}}, Options{NoCgroups: true})
	h.spawns(1)
	updatedUntilSpawn := func() int {
		t.Helper()
		n := 0
		for {
			ev := h.next("", func(ev events.Event) bool { return ev.Watcher == "web" })
			switch ev.Kind {
			case events.KindUpdated:
				n++
			case events.KindSpawn:
				return n
			}
		}
	}
	h.do("set", map[string]any{"name": "web", "options": map[string]any{"graceful_timeout": 3.0, "warmup_delay": 0.0, "numprocesses": 2.0}})
	if n := updatedUntilSpawn(); n != 3 {
		t.Errorf("set of 3 options: %d updated events before the spawn, want 3", n)
	}
	h.do("set", map[string]any{"name": "web", "options": map[string]any{"hooks": map[string]any{"before_start": "/bin/true", "after_start": "/bin/true"}}})
	h.do("incr", map[string]any{"name": "web"})
	if n := updatedUntilSpawn(); n != 2 {
		t.Errorf("set of 2 hooks: %d updated events, want 2", n)
	}
	// A refused set publishes nothing.
	r := h.a.Do(context.Background(), Request{Command: "set", Properties: map[string]any{"name": "web", "options": map[string]any{"numprocesses": 1.0, "uid": "no-such-user-here"}}})
	if r["status"] != "error" {
		t.Fatalf("set uid no-such-user-here: %v", r)
	}
	h.do("incr", map[string]any{"name": "web"})
	if n := updatedUntilSpawn(); n != 0 {
		t.Errorf("a refused set published %d updated events", n)
	}
}

// TestArgsKeepTheShapeGiven: options and get give args as add or set
// gave them, as circusd does: a list stays a list, a string a string, a
// watcher added without args has null, and a config file's watcher
// without args "" (circusd's config reader's default).
func TestArgsKeepTheShapeGiven(t *testing.T) {
	h := start(t, &configs.Config{Watchers: []configs.Watcher{testWatcher("web", "sleep", 0)}}, Options{NoCgroups: true})
	args := func(name string) string { return argsShown(t, h, name) }
	h.do("add", map[string]any{"name": "argl", "cmd": "sleep", "args": []any{"500"}})
	h.do("add", map[string]any{"name": "args", "cmd": "sleep", "args": "5 00"})
	h.do("add", map[string]any{"name": "noargs", "cmd": "sleep 500"})
	for _, tc := range []struct{ name, want string }{
		{"web", `""`}, {"argl", `["500"]`}, {"args", `"5 00"`}, {"noargs", `null`},
	} {
		if got := args(tc.name); got != tc.want {
			t.Errorf("%s: args %s, want %s", tc.name, got, tc.want)
		}
	}
	h.do("set", map[string]any{"name": "argl", "options": map[string]any{"args": "7"}})
	h.do("set", map[string]any{"name": "noargs", "options": map[string]any{"args": []any{"1", "2"}}})
	if got := args("argl"); got != `"7"` {
		t.Errorf("argl after set args \"7\": %s", got)
	}
	if got := args("noargs"); got != `["1","2"]` {
		t.Errorf("noargs after set args [1 2]: %s", got)
	}
	// set args null, as circusd takes it: no args, and null back.
	if r := h.do("set", map[string]any{"name": "argl", "options": map[string]any{"args": nil}}); r["status"] != "ok" {
		t.Fatalf("set args null: %v", r)
	}
	if got := args("argl"); got != `null` {
		t.Errorf("argl after set args null: %s", got)
	}
	if left := onLoop(t, h.a, func() any { return h.a.watchers["argl"].Spec().Args }).([]string); len(left) != 0 {
		t.Errorf("argl after set args null keeps args %q", left)
	}
	// Removed and added again without args: null, not the old list.
	h.do("rm", map[string]any{"name": "noargs", "waiting": true})
	h.do("add", map[string]any{"name": "noargs", "cmd": "sleep 500"})
	if got := args("noargs"); got != `null` {
		t.Errorf("noargs added again: %s", got)
	}
}

// argsShown is name's args as options gives them (JSON), checked to be
// what get gives.
func argsShown(t *testing.T, h *harness, name string) string {
	t.Helper()
	b, err := json.Marshal(h.do("get", map[string]any{"name": name, "keys": []any{"args"}})["options"])
	if err != nil {
		t.Fatal(err)
	}
	opts, err := json.Marshal(h.do("options", map[string]any{"name": name})["options"].(map[string]any)["args"])
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"args":` + string(opts) + `}`; string(b) != want {
		t.Errorf("%s: get %s, options %s", name, b, want)
	}
	return string(opts)
}

// TestUpgradeKeepsTheArgsShapeGiven: an upgraded image answered options
// with the args of watchers added or set by a client as one string (a
// list given, or none, came back as "500" or ""): the shapes are handed
// over with the watchers.
func TestUpgradeKeepsTheArgsShapeGiven(t *testing.T) {
	old := start(t, &configs.Config{}, Options{NoCgroups: true})
	idle := map[string]any{"numprocesses": 0}
	old.do("add", map[string]any{"name": "argl", "cmd": "sleep", "args": []any{"500"}, "options": idle})
	old.do("add", map[string]any{"name": "noargs", "cmd": "sleep 500", "options": idle})
	old.do("add", map[string]any{"name": "nulled", "cmd": "sleep", "args": "500", "options": idle})
	old.do("set", map[string]any{"name": "nulled", "options": map[string]any{"args": nil}})
	want := map[string]string{"argl": `["500"]`, "noargs": `null`, "nulled": `null`}
	for name, shape := range want {
		if got := argsShown(t, old, name); got != shape {
			t.Fatalf("%s before the upgrade: args %s, want %s", name, got, shape)
		}
	}
	st := onLoop(t, old.a, func() any { return old.a.state(time.Now()) }).(*upgrade.State)
	next := start(t, st.Config, Options{NoCgroups: true, Adopt: st})
	for name, shape := range want {
		if got := argsShown(t, next, name); got != shape {
			t.Errorf("%s after the upgrade: args %s, want %s", name, got, shape)
		}
	}
}
