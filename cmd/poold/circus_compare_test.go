package main

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/arbiter/controller/ctlclient"
	"github.com/poold/poold/events/zmqpub"
	"github.com/poold/poold/watcher/proctest"
)

const circusIni = `[watcher:web]
cmd = /bin/sh
args = -c "sleep 3600 & wait; exec sleep 3600"
numprocesses = 2
use_sockets = True
graceful_timeout = 2

[env:web]
FOO = bar
HELLO = world

[socket:web]
host = 127.0.0.1
port = %s
`

// circusOnly are the fields circusd gives that poold does not, each with
// why. Fields poold adds (its own options, slots, queue, ...) are allowed
// by the protocol and not listed.
var circusOnly = map[string]string{
	"options.env.__name__": "the same, leaked into env by Circus",
	"options.uid":          "null in both when unset; Circus gives no value type to compare",
	"options.gid":          "null in both when unset",
}

// TestCircusdSideBySide runs a real circusd and poold with the same
// watcher and compares what Circus's own client sees of each: replies
// field by field, and the events of the same actions.
func TestCircusdSideBySide(t *testing.T) {
	circusPeer(t)
	port := strconv.Itoa(proctest.FreePort(t))
	cd := startCircusd(t, fmt.Sprintf(circusIni, port))
	p := startPoold(t, circusConfig)
	c := dialControl(t, p)
	proctest.Eventually(t, "poold's workers", func() bool { return goCount(t, c) == 3 })
	// Ready as soon as started (readiness "delay", ready_delay 0), as
	// circusd counts them.
	proctest.Eventually(t, "poold's web active", func() bool {
		return call(t, c, "status", map[string]any{"name": "web"})["status"] == "active"
	})
	ctx, cancel := contextWithHang()
	defer cancel()
	cc, err := ctlclient.DialContext(ctx, cd.control)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	proctest.Eventually(t, "circusd's workers", func() bool {
		r, err := cc.Do(ctx, arbiter.Request{Command: "list", Properties: map[string]any{"name": "web"}})
		pids, _ := r["pids"].([]any)
		return err == nil && len(pids) == 2
	})
	t.Run("replies", func(t *testing.T) { compareReplies(t, cd, p) })
	t.Run("events", func(t *testing.T) { compareEvents(t, cd, cc, p, c) })
}

// compareReplies sends the same requests with Circus's CircusClient to
// circusd and to poold and compares the replies field by field: every
// field circusd gives must be in poold's reply with the same Python type,
// unless circusOnly says why not.
func compareReplies(t *testing.T, cd *circusd, p *proc) {
	reqs := []map[string]any{
		{"command": "list", "properties": map[string]any{}},
		{"command": "list", "properties": map[string]any{"name": "web"}},
		{"command": "status", "properties": map[string]any{"name": "web"}},
		{"command": "numwatchers", "properties": map[string]any{}},
		{"command": "numprocesses", "properties": map[string]any{"name": "web"}},
		{"command": "options", "properties": map[string]any{"name": "web"}},
		{"command": "get", "properties": map[string]any{"name": "web", "keys": []string{"env", "numprocesses", "graceful_timeout", "stop_signal", "args"}}},
		{"command": "globaloptions", "properties": map[string]any{}},
		{"command": "stats", "properties": map[string]any{"name": "web"}},
		{"command": "dstats", "properties": map[string]any{}},
		{"command": "listsockets", "properties": map[string]any{}},
		{"command": "incr", "properties": map[string]any{"name": "web", "waiting": true}},
		{"command": "decr", "properties": map[string]any{"name": "web", "waiting": true}},
		{"command": "reload", "properties": map[string]any{"name": "web", "waiting": true}},
		{"command": "numprocesses", "properties": map[string]any{"name": "nope"}}, // an error reply
		{"command": "get", "properties": map[string]any{"name": "web", "keys": []string{}}},
		{"command": "globaloptions", "properties": map[string]any{"option": "multicast_endpoint"}},
		// args as add gave them: a list stays a list, none is null.
		{"command": "add", "properties": map[string]any{"name": "argl", "cmd": "sleep", "args": []string{"500"}}},
		{"command": "get", "properties": map[string]any{"name": "argl", "keys": []string{"args"}}},
		{"command": "add", "properties": map[string]any{"name": "noargs", "cmd": "sleep 500"}},
		{"command": "get", "properties": map[string]any{"name": "noargs", "keys": []string{"args"}}},
		{"command": "rm", "properties": map[string]any{"name": "argl", "waiting": true}},
		{"command": "rm", "properties": map[string]any{"name": "noargs", "waiting": true}},
		// A waited add with start answers its start's started and kept.
		{"command": "add", "properties": map[string]any{"name": "begun", "cmd": "sleep 500", "start": true, "waiting": true}},
		{"command": "rm", "properties": map[string]any{"name": "begun", "waiting": true}},
		// Circus's names that set takes, which poold keeps under other
		// names or has no key for (options has them too).
		{"command": "get", "properties": map[string]any{"name": "web", "keys": []string{"max_retry", "stop_children", "close_child_stdin", "close_child_stdout", "close_child_stderr", "shell", "shell_args"}}},
	}
	theirs := circusClient(t, cd.control, reqs)
	ours := circusClient(t, ctlEndpoint(p), reqs)
	for i, req := range reqs {
		if theirs[i].Reply["status"] != ours[i].Reply["status"] {
			t.Errorf("%s %v: circusd answers %v, poold %v", req["command"], req["properties"], theirs[i].Reply, ours[i].Reply)
			continue
		}
		var diffs []string
		compareShape(&diffs, "", theirs[i].Shape, ours[i].Shape)
		sort.Strings(diffs)
		for _, d := range diffs {
			t.Errorf("%s: %s\ncircusd: %v\npoold:   %v", req["command"], d, theirs[i].Reply, ours[i].Reply)
		}
	}
	// Values that must agree too.
	opts, _ := ours[5].Reply["options"].(map[string]any)
	if env, _ := opts["env"].(map[string]any); env["FOO"] != "bar" || env["HELLO"] != "world" {
		t.Errorf("options env %v", env)
	}
	smallWorkersHaveMem(t, p)
}

// smallWorkersHaveMem: a sleep's few pages are a %mem above 0 once
// rounded (to 0.001 %, as Circus). A worker that has just exec'd can read
// RSS 0 in /proc/PID/stat for a moment (the kernel sums its per-CPU page
// counts lazily; ps shows 0 too), so stats is asked again until every
// worker has pages, and then each one's mem must be above 0.
func smallWorkersHaveMem(t *testing.T, p *proc) {
	t.Helper()
	c := dialControl(t, p)
	var infos map[string]any
	proctest.Eventually(t, "pages in every worker of web", func() bool {
		infos, _ = call(t, c, "stats", map[string]any{"name": "web"})["info"].(map[string]any)
		for _, in := range infos {
			if rss, _ := in.(map[string]any)["rss"].(float64); rss <= 0 {
				return false
			}
		}
		return len(infos) > 0
	})
	for pid, in := range infos {
		if mem, _ := in.(map[string]any)["mem"].(float64); mem <= 0 {
			t.Errorf("stats mem of small worker %s is %v, want > 0 (rounded to 0.001 %% as Circus): %v", pid, mem, in)
		}
	}
}

// compareShape adds to diffs each field of want (circusd's shape) that got
// (poold's) lacks or types differently. Dicts keyed by pids compare their
// first entries.
func compareShape(diffs *[]string, path string, want, got any) {
	if _, ok := circusOnly[strings.TrimPrefix(path, ".")]; ok {
		return
	}
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			*diffs = append(*diffs, fmt.Sprintf("%s: circusd has an object, poold %v", path, got))
			return
		}
		if byPid(w) || byPid(g) {
			w1, g1 := first(w), first(g)
			if w1 != nil && g1 != nil {
				compareShape(diffs, path+".<pid>", w1, g1)
			}
			return
		}
		for k, wv := range w {
			if k == "time" || k == "id" {
				continue
			}
			gv, ok := g[k]
			if !ok {
				if _, allowed := circusOnly[strings.TrimPrefix(path+"."+k, ".")]; !allowed {
					*diffs = append(*diffs, fmt.Sprintf("%s.%s: missing in poold's reply", path, k))
				}
				continue
			}
			compareShape(diffs, path+"."+k, wv, gv)
		}
	case []any:
		g, ok := got.([]any)
		if !ok {
			*diffs = append(*diffs, fmt.Sprintf("%s: circusd has a list, poold %v", path, got))
			return
		}
		if len(w) > 0 && len(g) > 0 {
			compareShape(diffs, path+"[0]", w[0], g[0])
		}
	default:
		if want != got {
			*diffs = append(*diffs, fmt.Sprintf("%s: circusd gives a %v, poold a %v", path, want, got))
		}
	}
}

func byPid(m map[string]any) bool {
	for k := range m {
		if k == "" || strings.Trim(k, "0123456789") != "" {
			return false
		}
	}
	return len(m) > 0
}

func first(m map[string]any) any {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) == 0 {
		return nil
	}
	return m[keys[0]]
}

// compareEvents performs the same actions on circusd and on poold and
// compares the events Circus defines (spawn, reap, kill, start, stop,
// reload, updated) that each publishes: the same kinds, as many, and the same last
// one. poold's additions (exit, ready, ...) are left out.
func compareEvents(t *testing.T, cd *circusd, cc *ctlclient.Client, p *proc, pc *ctlclient.Client) {
	sides := []struct {
		name string
		c    *ctlclient.Client
		sub  *zmqpub.Subscriber
	}{
		{"circusd", cc, subscribeAt(t, cd.pubsub, cc)},
		{"poold", pc, subscribeAt(t, "ipc://"+p.dir+"/e.sock", pc)},
	}
	for _, step := range []struct {
		cmd   string
		props map[string]any
	}{
		{"incr", map[string]any{"name": "web", "waiting": true}},
		{"decr", map[string]any{"name": "web", "waiting": true}},
		{"reload", map[string]any{"name": "web", "waiting": true}},
		{"stop", map[string]any{"name": "web", "waiting": true}},
		{"start", map[string]any{"name": "web", "waiting": true}},
		{"restart", map[string]any{"name": "web", "waiting": true}},
		// One updated per option (circusd's set_opt each), then the spawn.
		{"set", map[string]any{"name": "web", "waiting": true, "options": map[string]any{"graceful_timeout": 2, "warmup_delay": 0, "numprocesses": 3}}},
		// env as it is: circusd rolls the workers over all the same.
		{"set", map[string]any{"name": "web", "waiting": true, "options": map[string]any{"env": map[string]any{"FOO": "bar", "HELLO": "world"}}}},
	} {
		var got [2][]string
		for i, s := range sides {
			if r := call(t, s.c, step.cmd, step.props); r["status"] != "ok" {
				t.Fatalf("%s %s: %v", s.name, step.cmd, r)
			}
			got[i] = circusKinds(t, s.c, s.sub)
		}
		if sortWords(strings.Join(got[0], " ")) != sortWords(strings.Join(got[1], " ")) ||
			len(got[0]) > 0 && got[0][len(got[0])-1] != got[1][len(got[1])-1] {
			t.Errorf("%s: circusd published %q, poold %q", step.cmd, got[0], got[1])
		}
	}
}

// subscribeAt subscribes to the event stream at endpoint and waits until
// the subscription is live (provoking updated events through c).
func subscribeAt(t *testing.T, endpoint string, c *ctlclient.Client) *zmqpub.Subscriber {
	t.Helper()
	ctx, cancel := contextWithHang()
	defer cancel()
	sub, err := zmqpub.Dial(ctx, endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Close() })
	for {
		setMarker(t, c)
		rctx, rcancel := context.WithTimeout(ctx, 200*time.Millisecond)
		topic, _, err := sub.Recv(rctx)
		rcancel()
		if err == nil && topic == "watcher.web.updated" {
			circusKinds(t, c, sub) // drain up to a fresh marker
			return sub
		}
		if ctx.Err() != nil {
			t.Fatalf("event subscription to %s never became live", endpoint)
		}
	}
}

// circusKinds reads the events of watcher web up to a marker (an updated
// event provoked after the action completed) and returns the kinds
// Circus defines, in order (the updated events before the marker too).
func circusKinds(t *testing.T, c *ctlclient.Client, sub *zmqpub.Subscriber) []string {
	t.Helper()
	// The marker is the first updated event published after now (earlier
	// ones may still be queued from subscribing).
	t0 := float64(time.Now().UnixNano())/1e9 - 0.001
	setMarker(t, c)
	ctx, cancel := contextWithHang()
	defer cancel()
	var kinds []string
	for {
		topic, payload, err := sub.Recv(ctx)
		if err != nil {
			t.Fatalf("after %q: %v", kinds, err)
		}
		k, ok := strings.CutPrefix(topic, "watcher.web.")
		switch {
		case !ok:
		case k == "updated":
			if at, _ := payload["time"].(float64); at >= t0 {
				return kinds
			}
			kinds = append(kinds, k) // the action's own
		case k == "spawn" || k == "reap" || k == "kill" || k == "start" || k == "stop" || k == "reload":
			kinds = append(kinds, k)
		}
	}
}

// setMarker sets an option to provoke an updated event, retrying while
// circusd refuses commands ("arbiter is already running ...", a Circus
// defect poold does not have).
func setMarker(t *testing.T, c *ctlclient.Client) {
	t.Helper()
	proctest.Eventually(t, "set accepted", func() bool {
		ctx, cancel := contextWithHang()
		defer cancel()
		r, err := c.Do(ctx, arbiter.Request{Command: "set", Properties: map[string]any{"name": "web", "options": map[string]any{"graceful_timeout": 2}}})
		return err == nil && r["status"] == "ok"
	})
}
