package arbiter

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/proctest"
	"github.com/poold/poold/watcher/workertest"
)

func TestStatusAnswersDuringLongGracefulStop(t *testing.T) {
	slow := testWatcher("slow", "stubborn", 1)
	slow.Sockets = []string{"s"}
	slow.GracefulTimeout = time.Hour
	other := testWatcher("other", "sleep", 1)
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("s")}, Watchers: []configs.Watcher{slow, other}}, Options{})
	h.spawns(2)
	addr := h.socketAddr("s")
	proctest.Eventually(t, "stubborn worker serves (ignores SIGTERM)", func() bool { _, err := get(addr, "/"); return err == nil })

	h.do("stop", map[string]any{"name": "slow"}) // graceful: an hour
	if st := h.do("status", map[string]any{"name": "slow"})["status"]; st != "stopping" {
		t.Fatalf("slow is %v, want stopping", st)
	}
	// Everything else is answered at once (the bound only catches a hang).
	for _, req := range []struct {
		cmd   string
		props map[string]any
	}{
		{"status", nil},
		{"incr", map[string]any{"name": "other", "waiting": true}},
		{"list", map[string]any{"name": "other"}},
		{"stats", nil},
		{"decr", map[string]any{"name": "other", "waiting": true}},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		r := h.a.Do(ctx, Request{Command: req.cmd, Properties: req.props})
		cancel()
		if r["status"] == "error" {
			t.Errorf("%s during a long stop: %v", req.cmd, r)
		}
	}
	// A second operation on the stopping watcher is queued, not refused.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if r := h.a.Do(ctx, Request{Command: "start", Properties: map[string]any{"name": "slow"}}); r["status"] != "ok" {
		t.Errorf("start while stopping: %v", r)
	}
	h.do("kill", map[string]any{"name": "slow", "graceful_timeout": 0.0})
}

func TestCommandErrors(t *testing.T) {
	w := testWatcher("web", "sleep", 1)
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{})
	ctx := context.Background()
	for _, tc := range []struct {
		raw    string
		errno  int
		reason string
	}{
		{`{"command": `, ErrnoBadJSON, "not valid JSON"},
		{`[1,2]`, ErrnoBadJSON, "must be a JSON object"},
		{`{"command": "frobnicate"}`, ErrnoUnknownCmd, `unknown command "frobnicate"`},
		{`{"command": "incr"}`, ErrnoBadProperty, `"name"`},
		{`{"command": "incr", "properties": {"name": "nope"}}`, ErrnoBadProperty, "program nope not found"},
		{`{"command": "incr", "properties": {"name": "web", "nb": "many"}}`, ErrnoBadProperty, "whole number"},
		{`{"command": "incr", "properties": {"name": "web", "nb": 9223372036854775807}}`, ErrnoBadProperty, `"nb" is 9223372036854775808, too large`},
		// A signum that is no signal: circusd's errnos (5, and 4 for a
		// number kill(2) refuses), poold's reasons.
		{`{"command": "signal", "properties": {"name": "web", "signum": "BOGUS"}}`, ErrnoFailed, `unknown signal "BOGUS"`},
		{`{"command": "signal", "properties": {"name": "web", "signum": [1]}}`, ErrnoFailed, "is not a signal"},
		{`{"command": "signal", "properties": {"name": "web", "signum": 999}}`, ErrnoOS, "signal 999 is out of range"},
		{`{"command": "kill", "properties": {"name": "web", "signum": "BOGUS"}}`, ErrnoFailed, `unknown signal "BOGUS"`},
		{`{"command": "kill", "properties": {"name": "web", "signum": "SIGRTMIN+40"}}`, ErrnoOS, "out of range"},
		// circusd's "signal invalid" (3): no word to look up.
		{`{"command": "signal", "properties": {"name": "web", "signum": ""}}`, ErrnoBadProperty, `unknown signal ""`},
		{`{"command": "signal", "properties": {"name": "web", "signum": "-"}}`, ErrnoBadProperty, `unknown signal "-"`},
		{`{"command": "signal", "properties": {"name": "web", "signum": " HUP"}}`, ErrnoBadProperty, `" HUP" begins with no letter or digit`},
		// kill reads signum as signal does: a null one is no signal
		// (circusd: errno 5), not a missing one.
		{`{"command": "kill", "properties": {"name": "web", "signum": null}}`, ErrnoFailed, "null is not a signal"},
		{`{"command": "kill", "properties": {"name": "web", "signum": " HUP"}}`, ErrnoBadProperty, `" HUP" begins with no letter or digit`},
		{`{"command": "kill", "properties": {"name": "web", "signum": "-"}}`, ErrnoBadProperty, `unknown signal "-"`},
		{`{"command": "kill", "properties": {"name": "web", "signum": {}}}`, ErrnoFailed, "{} is not a signal"},
		{`{"command": "signal", "properties": {"name": "web", "signum": {}}}`, ErrnoFailed, "{} is not a signal"},
		// What circusd takes as SIGHUP (int(true), int(1.5)), poold
		// refuses as a bad property (README "Coming from Circus").
		{`{"command": "signal", "properties": {"name": "web", "signum": true}}`, ErrnoBadProperty, "true is not a signal"},
		{`{"command": "signal", "properties": {"name": "web", "signum": 1.5}}`, ErrnoBadProperty, "1.5 is not a whole number"},
		{`{"command": "kill", "properties": {"name": "web", "signum": true}}`, ErrnoBadProperty, "true is not a signal"},
		{`{"command": "kill", "properties": {"name": "web", "signum": 1.5}}`, ErrnoBadProperty, "1.5 is not a whole number"},
		{`{"command": "get", "properties": {"name": "web", "keys": ["nope"]}}`, ErrnoBadProperty, "no option"},
		{`{"command": "set", "properties": {"name": "web", "options": {"numprocesses": -1}}}`, ErrnoBadProperty, "numprocesses"},
		{`{"command": "add", "properties": {"name": "web", "cmd": "sleep"}}`, ErrnoFailed, "already exists"},
		{`{"command": "properties", "properties": 3}`, ErrnoBadProperty, "must be a JSON object"},
	} {
		out, send := h.a.Handle(ctx, []byte(tc.raw))
		if !send {
			t.Errorf("%s: no reply", tc.raw)
			continue
		}
		var r map[string]any
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatalf("%s: reply %q: %v", tc.raw, out, err)
		}
		if r["status"] != "error" || r["errno"] != float64(tc.errno) || !strings.Contains(r["reason"].(string), tc.reason) {
			t.Errorf("%s: reply %v, want errno %d mentioning %q", tc.raw, r, tc.errno, tc.reason)
		}
	}
	// A cast gets no reply but is carried out.
	if _, send := h.a.Handle(ctx, []byte(`{"command": "incr", "properties": {"name": "web"}, "msg_type": "cast"}`)); send {
		t.Errorf("cast got a reply")
	}
	proctest.Eventually(t, "cast incr applied", func() bool {
		return h.do("numprocesses", map[string]any{"name": "web"})["numprocesses"] == 2
	})
	// add, get, set, rm round trip.
	h.do("add", map[string]any{"name": "extra", "cmd": w.Cmd, "options": map[string]any{
		"env": []any{workertest.Env + "=sleep", quickExit}, "numprocesses": 2.0}, "start": true, "waiting": true})
	if n := h.do("numprocesses", map[string]any{"name": "extra"})["numprocesses"]; n != 2 {
		t.Errorf("added watcher runs %v processes", n)
	}
	h.do("set", map[string]any{"name": "extra", "options": map[string]any{"numprocesses": 1.0}, "waiting": true})
	if got := h.do("get", map[string]any{"name": "extra", "keys": []any{"numprocesses"}})["options"]; got.(Ordered).Values["numprocesses"] != 1 {
		t.Errorf("get after set: %v", got)
	}
	h.do("rm", map[string]any{"name": "extra", "waiting": true})
	if ws := h.do("list", nil)["watchers"].([]string); strings.Join(ws, ",") != "web" {
		t.Errorf("watchers after rm: %v", ws)
	}
	// rm nostop leaves the workers running unmanaged; poold still stops
	// (the harness's cleanup would catch a hang) and they die with it.
	pids := h.do("list", map[string]any{"name": "web"})["pids"].([]int)
	h.do("rm", map[string]any{"name": "web", "nostop": true})
	for _, pid := range pids {
		if !proctest.Alive(pid) {
			t.Errorf("rm nostop stopped pid %d", pid)
		}
	}
}

// FuzzHandle feeds arbitrary frames to the request decoder and dispatcher:
// every frame gets a JSON reply (or none, for a cast) and nothing panics.
func FuzzHandle(f *testing.F) {
	for _, s := range []string{
		`{"id": "1", "command": "status", "properties": {}}`,
		`{"command": "incr", "properties": {"name": "web", "nb": 2}}`,
		`{"command": "list", "properties": {"name": "web"}}`,
		`{"command": "signal", "properties": {"name": "web", "signum": "HUP", "pid": 1}}`,
		`{"command": "get", "properties": {"name": "web", "keys": ["cmd", 3]}}`,
		`{"command": "set", "properties": {"name": "web", "options": {"numprocesses": "x"}}}`,
		`{"command": "options", "properties": {"name": null}}`,
		`{"command": "stats", "properties": {"name": "web", "process": -1}}`,
		`{"command": "globaloptions", "properties": {"option": 5}}`,
		`{"command": "kill", "properties": {"name": "web", "pid": 999999, "graceful_timeout": -1}}`,
		`{"command": "STATUS", "msg_type": "cast"}`,
		`not json`, `[]`, `{}`, `{"command": 1}`,
	} {
		f.Add([]byte(s))
	}
	w := testWatcher("web", "sleep", 0) // no processes: fuzzing must not spawn or signal real ones
	// No cgroup tree: its log line at start would race the fuzz target.
	h := start(f, &configs.Config{Watchers: []configs.Watcher{w}}, Options{NoCgroups: true})
	f.Fuzz(func(t *testing.T, raw []byte) {
		var probe map[string]any
		if json.Unmarshal(raw, &probe) == nil {
			// Commands that start, stop or spawn processes are not fuzzed:
			// they would act on this machine.
			if c, _ := probe["command"].(string); dangerous[strings.ToLower(c)] {
				return
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out, send := h.a.Handle(ctx, raw)
		if !send {
			return
		}
		var r map[string]any
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatalf("reply to %q is not JSON: %q", raw, out)
		}
		if r["status"] == nil {
			t.Fatalf("reply to %q has no status: %v", raw, r)
		}
	})
}

var dangerous = map[string]bool{
	"add": true, "start": true, "restart": true, "reload": true, "incr": true, "set": true,
	"quit": true, "signal": true, "kill": true, "reloadconfig": true, "rm": true, "stop": true, "decr": true,
}

// TestReplyEchoesTheIDAsSent: circusd answers with the id as it came, so
// a client sending a number gets a number back; poold sent its text.
func TestReplyEchoesTheIDAsSent(t *testing.T) {
	h := start(t, &configs.Config{Watchers: []configs.Watcher{testWatcher("web", "sleep", 0)}}, Options{NoCgroups: true})
	for _, tc := range []struct {
		req  string
		want any
	}{
		{`{"id": 5, "command": "numwatchers"}`, 5.0},
		{`{"id": "abc", "command": "numwatchers"}`, "abc"},
		{`{"id": 7, "command": "nope"}`, 7.0},
		{`{"id": 8, "command": "numwatchers", "properties": []}`, 8.0},
		// Without an id (or not JSON at all), circusd answers "id": null.
		{`{"command": "numwatchers"}`, nil},
		{`{"id": null, "command": "numwatchers"}`, nil},
		{`{"command": "nope"}`, nil},
		{`not json`, nil},
		{`{"id": "", "command": "numwatchers"}`, ""},
	} {
		out, _ := h.a.Handle(context.Background(), []byte(tc.req))
		var r map[string]any
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatal(err)
		}
		if _, has := r["id"]; !has || r["id"] != tc.want {
			t.Errorf("%s: reply id %#v, want %#v", tc.req, r["id"], tc.want)
		}
	}
}

// TestUnknownPidListsAFew: an unknown pid's error lists a few of the
// watcher's pids, not all of them (a pool may have thousands); kill's
// too, which listed none.
func TestUnknownPidListsAFew(t *testing.T) {
	h := start(t, &configs.Config{Watchers: []configs.Watcher{testWatcher("web", "sleep", 12)}}, Options{})
	h.spawns(12)
	for cmd, props := range map[string]map[string]any{
		"signal": {"name": "web", "pid": 1, "signum": "HUP"},
		"kill":   {"name": "web", "pid": 1},
		"stats":  {"name": "web", "process": 1},
	} {
		r := h.a.Do(context.Background(), Request{ID: "x", Command: cmd, Properties: props})
		reason := fmt.Sprint(r["reason"])
		if !strings.Contains(reason, "has no process with pid 1") || !strings.Contains(reason, "(12 in all; poolctl list web shows them)") {
			t.Errorf("%s of an unknown pid: %q", cmd, reason)
		}
	}
}

// TestOptionsGiveTheWorkingDirectory: without working_dir, options and
// get give the directory the workers start in (poold's), as circusd
// gives its own; poold gave "".
func TestOptionsGiveTheWorkingDirectory(t *testing.T) {
	h := start(t, &configs.Config{Watchers: []configs.Watcher{testWatcher("web", "sleep", 0)}}, Options{NoCgroups: true})
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	opts := h.do("get", map[string]any{"name": "web", "keys": []any{"working_dir"}})["options"].(Ordered).Values
	if opts["working_dir"] != wd {
		t.Errorf("get working_dir: %v, want %s", opts["working_dir"], wd)
	}
}

// TestAddKeepsTheNameCase: a watcher added as "MyApp" is "myapp" in list
// and its event topics, as circusd's list and topics say, and "MyApp" in
// status and stats, as circusd keys them; stats echoes the name as sent.
// poold gave "myapp" everywhere, so a client that looks up
// statuses["MyApp"] (the name it added) found nothing (r65 protocol F4).
func TestAddKeepsTheNameCase(t *testing.T) {
	h := start(t, &configs.Config{Watchers: []configs.Watcher{testWatcher("web", "sleep", 0)}}, Options{NoCgroups: true})
	w := testWatcher("x", "sleep", 1)
	h.do("add", map[string]any{"name": "MyApp", "cmd": w.Cmd, "options": map[string]any{
		"env": []any{workertest.Env + "=sleep", quickExit}}, "start": true, "waiting": true})
	if ws := h.do("list", nil)["watchers"].([]string); strings.Join(ws, ",") != "myapp,web" {
		t.Errorf("list: %q, want [myapp web]", ws)
	}
	if st := h.do("status", nil)["statuses"].(map[string]any); st["MyApp"] != "active" {
		t.Errorf("status: %v, want MyApp active", st)
	}
	if _, ok := h.do("stats", nil)["infos"].(map[string]map[string]ProcInfo)["MyApp"]; !ok {
		t.Errorf("stats infos have no MyApp")
	}
	if name := h.do("stats", map[string]any{"name": "MYAPP"})["name"]; name != "MYAPP" {
		t.Errorf("stats MYAPP: name %v, want MYAPP (as sent)", name)
	}
	pid := h.do("list", map[string]any{"name": "myapp"})["pids"].([]int)[0]
	if got := h.do("stats", map[string]any{"name": "MyApp", "process": strconv.Itoa(pid)})["process"]; got != strconv.Itoa(pid) {
		t.Errorf("stats MyApp process %q: process %#v, want the string as sent", strconv.Itoa(pid), got)
	}
	ev := h.next("spawn", nil)
	if ev.Watcher != "MyApp" || ev.Topic != "watcher.myapp.spawn" {
		t.Errorf("spawn event of %q on %q, want MyApp on watcher.myapp.spawn", ev.Watcher, ev.Topic)
	}
	r := h.a.Do(context.Background(), Request{Command: "add", Properties: map[string]any{"name": "MYAPP", "cmd": w.Cmd}})
	if r["errno"] != ErrnoFailed {
		t.Errorf("add MYAPP beside myapp: %v, want errno %d", r, ErrnoFailed)
	}
	h.do("rm", map[string]any{"name": "mYaPp", "waiting": true})
	if ws := h.do("list", nil)["watchers"].([]string); strings.Join(ws, ",") != "web" {
		t.Errorf("list after rm: %q", ws)
	}
}

// TestInvalidUTF8IsRefused: a frame that is not UTF-8 is refused with
// errno 1 (as circusd's "json invalid") and nothing is done; poold read
// the bad bytes as U+FFFD and ran the altered command (here: added a
// watcher whose argv the client never sent).
func TestInvalidUTF8IsRefused(t *testing.T) {
	h := start(t, &configs.Config{Watchers: []configs.Watcher{testWatcher("web", "sleep", 0)}}, Options{NoCgroups: true})
	for _, tc := range []struct{ raw, bad, shown string }{
		{"{\"id\":\"u\",\"command\":\"li\xffst\"}", "\xff", "(ff 73 74 22)"},
		{"{\"command\":\"add\",\"properties\":{\"name\":\"u1\",\"cmd\":\"sleep\",\"args\":[\"7\xff7\"]}}", "\xff", "(ff 37 22 5d)"},
		{"{\"command\":\"list\",\"properties\":{\"name\":\"\xc3\"}}", "\xc3", "(c3 22 7d 7d)"},
	} {
		reason := fmt.Sprintf("invalid UTF-8 at byte %d %s", strings.Index(tc.raw, tc.bad), tc.shown)
		out, send := h.a.Handle(context.Background(), []byte(tc.raw))
		var r map[string]any
		if err := json.Unmarshal(out, &r); err != nil || !send {
			t.Fatalf("%q: reply %q (sent %v): %v", tc.raw, out, send, err)
		}
		if r["errno"] != float64(ErrnoBadJSON) || !strings.Contains(fmt.Sprint(r["reason"]), reason) {
			t.Errorf("%q: reply %v, want errno %d naming %q", tc.raw, r, ErrnoBadJSON, reason)
		}
	}
	if ws := h.do("list", nil)["watchers"].([]string); strings.Join(ws, ",") != "web" {
		t.Errorf("watchers after a refused add: %q", ws)
	}
	// Valid UTF-8 beyond ASCII is read as sent.
	r := h.a.Do(context.Background(), Request{Command: "list", Properties: map[string]any{"name": "wéb"}})
	if !strings.Contains(fmt.Sprint(r["reason"]), "program wéb not found") {
		t.Errorf("list wéb: %v", r)
	}
	out, _ := h.a.Handle(context.Background(), []byte(`{"command":"list","properties":{"name":"wéb"}}`))
	if !strings.Contains(string(out), "program wéb not found") {
		t.Errorf("list wéb as a frame: %s", out)
	}
}

// TestListSocketsGivesEachSocketItsOwnFd: fd identifies a socket in
// listsockets (circusd's are its own, distinct fds); poold reported fd 3
// for a socket no watcher uses beside the one its workers get at 3, and
// fd 3 for two watchers' first sockets.
func TestListSocketsGivesEachSocketItsOwnFd(t *testing.T) {
	for _, tc := range []struct {
		name     string
		sockets  []string
		watchers map[string][]string
		want     string // name:fd, sorted by fd
	}{
		{"one unused", []string{"alpha", "web"}, map[string][]string{"web": {"web"}}, "web:3 alpha:4"},
		{"two watchers' first sockets", []string{"alpha", "b", "web"}, map[string][]string{"web": {"web"}, "api": {"b"}}, "b:3 web:4 alpha:5"},
		{"a bumped one leaves a claimed fd", []string{"x", "y", "z"}, map[string][]string{"a": {"x", "z"}, "b": {"y"}}, "x:3 z:4 y:5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &configs.Config{}
			for _, s := range tc.sockets {
				cfg.Sockets = append(cfg.Sockets, tcpSocket(s))
			}
			for name, socks := range tc.watchers {
				w := testWatcher(name, "sleep", 0)
				w.Sockets = socks
				cfg.Watchers = append(cfg.Watchers, w)
			}
			h := start(t, cfg, Options{NoCgroups: true})
			var got []string
			for _, s := range h.do("listsockets", nil)["sockets"].([]map[string]any) {
				got = append(got, fmt.Sprintf("%s:%d", s["name"], s["fd"]))
				for w, fd := range s["worker_fds"].(map[string]int) {
					if slices.Contains(tc.watchers[w], s["name"].(string)) && fd != 3+slices.Index(tc.watchers[w], s["name"].(string)) {
						t.Errorf("socket %s: worker_fds[%s] = %d", s["name"], w, fd)
					}
				}
			}
			if strings.Join(got, " ") != tc.want {
				t.Errorf("listsockets fds %q, want %q", got, tc.want)
			}
		})
	}
}
