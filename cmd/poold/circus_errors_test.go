package main

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/arbiter/controller/ctlclient"
	"github.com/poold/poold/watcher/proctest"
)

// TestCircusdErrorReplies sends the same bad requests with Circus's own
// client to a real circusd and to poold: status and errno must agree, so
// a Circus script that tests errno works against poold. The reasons may
// differ: poold's say what to send instead. poold answered 3 where
// circusd answers 5 (a signal name it does not know) or 4 (a signal
// number kill(2) refuses), and refused set close_child_stdout true,
// which circusd takes.
//
// Where poold knowingly differs it refuses what circusd takes without
// effect or with a surprise (README "Coming from Circus"): an incr nb
// that is no number, a signal to a pid that is not the watcher's, a
// signum true (circusd sends SIGHUP) or 1.5, properties that are not an
// object; and it answers (errno 1 or 3) what circusd drops unanswered: a
// request with no command, a JSON array.
func TestCircusdErrorReplies(t *testing.T) {
	circusPeer(t)
	cd := startCircusd(t, fmt.Sprintf(circusIni, strconv.Itoa(proctest.FreePort(t))))
	p := startPoold(t, circusConfig)
	dialControl(t, p) // poold answers
	ctx, cancel := contextWithHang()
	defer cancel()
	cc, err := ctlclient.DialContext(ctx, cd.control)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	proctest.Eventually(t, "circusd answers", func() bool {
		_, err := cc.Do(ctx, arbiter.Request{Command: "list"})
		return err == nil
	})

	web := func(command string, props map[string]any) map[string]any {
		props["name"] = "web"
		return map[string]any{"command": command, "properties": props}
	}
	nope := func(command string, props map[string]any) map[string]any {
		props["name"] = "nope"
		return map[string]any{"command": command, "properties": props}
	}
	reqs := []map[string]any{
		nope("status", map[string]any{}),
		nope("start", map[string]any{}),
		nope("stop", map[string]any{}),
		nope("restart", map[string]any{}),
		nope("reload", map[string]any{}),
		nope("list", map[string]any{}),
		nope("options", map[string]any{}),
		nope("stats", map[string]any{}),
		nope("rm", map[string]any{}),
		nope("incr", map[string]any{}),
		nope("decr", map[string]any{}),
		nope("get", map[string]any{"keys": []string{"numprocesses"}}),
		nope("set", map[string]any{"options": map[string]any{"numprocesses": 2}}),
		nope("signal", map[string]any{"signum": "HUP"}),
		{"command": "incr", "properties": map[string]any{}},
		{"command": "get", "properties": map[string]any{"keys": []string{"numprocesses"}}},
		{"command": "rm", "properties": map[string]any{}},
		{"command": "add", "properties": map[string]any{"name": "x"}},
		{"command": "frobnicate", "properties": map[string]any{}},
		{"command": "globaloptions", "properties": map[string]any{"option": "nope"}},
		web("signal", map[string]any{"signum": "FOO"}),
		web("signal", map[string]any{"signum": "SIGFOO"}),
		web("signal", map[string]any{"signum": []int{1}}),
		web("signal", map[string]any{"signum": 999}),
		web("signal", map[string]any{"signum": "65"}),
		web("signal", map[string]any{"signum": -1}),
		web("signal", map[string]any{"signum": ""}),
		web("signal", map[string]any{"signum": "-"}),
		web("signal", map[string]any{"signum": "1.5"}),
		web("signal", map[string]any{"signum": nil}),
		web("signal", map[string]any{}),
		web("kill", map[string]any{"signum": "FOO"}),
		web("kill", map[string]any{"signum": nil}),
		web("kill", map[string]any{"signum": " HUP"}),
		web("kill", map[string]any{"signum": "-"}),
		web("kill", map[string]any{"signum": map[string]any{}}),
		web("signal", map[string]any{"signum": " HUP"}),
		web("signal", map[string]any{"signum": map[string]any{}}),
		web("stats", map[string]any{"process": 1}),
		web("get", map[string]any{"keys": []string{"nope"}}),
		web("get", map[string]any{}),
		web("set", map[string]any{}),
		web("set", map[string]any{"options": map[string]any{"nope": 1}}),
		web("set", map[string]any{"options": map[string]any{"numprocesses": "x"}}),
		web("set", map[string]any{"options": map[string]any{"close_child_stdout": "maybe"}}),
		web("add", map[string]any{"cmd": "sleep 1"}),
		web("set", map[string]any{"options": map[string]any{"close_child_stdout": true}}),
		web("set", map[string]any{"options": map[string]any{"close_child_stderr": true}}),
	}
	theirs := circusClient(t, cd.control, reqs)
	ours := circusClient(t, ctlEndpoint(p), reqs)
	for i, req := range reqs {
		c, o := theirs[i].Reply, ours[i].Reply
		if c["status"] != o["status"] || c["errno"] != o["errno"] {
			t.Errorf("%s %v: circusd answers %v %v (%v), poold %v %v (%v)", req["command"], req["properties"],
				c["status"], c["errno"], c["reason"], o["status"], o["errno"], o["reason"])
		}
	}
}
