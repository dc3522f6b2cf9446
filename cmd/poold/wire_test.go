package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/arbiter/controller/ctlclient"
	"github.com/poold/poold/events/zmqpub"
	"github.com/poold/poold/watcher/proctest"
)

const wireConfig = `
[arbiter]
ENDPOINTS
[sockets.web]
port = 0
[watchers.web]
cmd = @WORKER@
numprocesses = 2
sockets = ["web"]
env = ["POOLD_TEST_WORKER=serve"]
graceful_timeout = "5s"
`

// python returns Debian's python3 with pyzmq, or skips (fails under CI).
func python(t *testing.T) string {
	t.Helper()
	const py = "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import zmq").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s cannot import zmq (Debian package python3-zmq); .ci/run installs it: %v", py, err)
		}
		t.Skipf("%s without zmq: %v", py, err)
	}
	return py
}

func dialControl(t *testing.T, p *proc) *ctlclient.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	c, err := ctlclient.DialContext(ctx, "ipc://"+p.dir+"/c.sock")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func call(t *testing.T, c *ctlclient.Client, cmd string, props map[string]any) arbiter.Reply {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	r, err := c.Do(ctx, arbiter.Request{Command: cmd, Properties: props})
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	return r
}

// TestPythonControlClients runs list, incr and status against a real poold
// from libzmq (pyzmq): a DEALER with one JSON frame, and a REQ.
func TestPythonControlClients(t *testing.T) {
	py := python(t)
	p := startPoold(t, wireConfig)
	p.waitLog(`worker (\d+) serving`, 2)
	script := `
import json, sys, zmq
ctx = zmq.Context()
out = []
for kind in (zmq.DEALER, zmq.REQ):
    s = ctx.socket(kind)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.RCVTIMEO, 10000)
    s.connect(sys.argv[1])
    for i, (cmd, props) in enumerate([("list", {}), ("incr", {"name": "web"}), ("status", {"name": "web"})]):
        s.send(json.dumps({"id": "%d-%d" % (kind, i), "command": cmd, "properties": props}).encode())
        out.append(json.loads(s.recv()))
    s.close()
print(json.dumps(out))
`
	out, err := exec.Command(py, "-c", script, "ipc://"+p.dir+"/c.sock").CombinedOutput()
	if err != nil {
		t.Fatalf("python client: %v\n%s", err, out)
	}
	var replies []map[string]any
	if err := json.Unmarshal(out, &replies); err != nil {
		t.Fatalf("python output %q: %v", out, err)
	}
	for i, client := range []string{"DEALER", "REQ"} {
		list, incr, status := replies[3*i], replies[3*i+1], replies[3*i+2]
		if fmt.Sprint(list["watchers"]) != "[web]" || list["status"] != "ok" {
			t.Errorf("%s list: %v", client, list)
		}
		if want := float64(3 + i); incr["numprocesses"] != want {
			t.Errorf("%s incr: %v, want numprocesses %v", client, incr, want)
		}
		if status["status"] != "active" && status["status"] != "starting" {
			t.Errorf("%s status: %v", client, status)
		}
		if !strings.HasSuffix(fmt.Sprint(list["id"]), "-0") {
			t.Errorf("%s: id not echoed: %v", client, list["id"])
		}
	}
	p.waitLog(`worker (\d+) serving`, 4)
}

// subscribe connects a SUB to poold's event stream and waits until the
// subscription is live (ZeroMQ's slow joiner) by provoking "updated"
// events until one arrives.
func subscribe(t *testing.T, p *proc, c *ctlclient.Client) *zmqpub.Subscriber {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	sub, err := zmqpub.Dial(ctx, "ipc://"+p.dir+"/e.sock")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Close() })
	for {
		call(t, c, "set", map[string]any{"name": "web", "options": map[string]any{"graceful_timeout": 5.0}})
		rctx, rcancel := context.WithTimeout(ctx, 100*time.Millisecond)
		topic, _, err := sub.Recv(rctx)
		rcancel()
		if err == nil && topic == "watcher.web.updated" {
			return sub
		}
		if ctx.Err() != nil {
			t.Fatal("event subscription never became live")
		}
	}
}

type event struct {
	topic string
	p     map[string]any
}

// collect receives events until stop says so, checking seq has no gap.
func collect(t *testing.T, sub *zmqpub.Subscriber, last *float64, stop func(event) bool) []event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	var evs []event
	for {
		topic, p, err := sub.Recv(ctx)
		if err != nil {
			t.Fatalf("after %v: %v", evs, err)
		}
		seq, _ := p["seq"].(float64)
		if *last != 0 && seq != *last+1 {
			t.Errorf("seq gap: %v after %v (%s)", seq, *last, topic)
		}
		*last = seq
		ev := event{topic, p}
		evs = append(evs, ev)
		if stop(ev) {
			return evs
		}
	}
}

func kinds(evs []event) string {
	var ks []string
	for _, e := range evs {
		// A worker that dies young is restarted after a backoff; that
		// event may come between the reap and the spawn. exit is poold's
		// addition (every exit); the sequence checked is Circus's.
		if k := strings.TrimPrefix(e.topic, "watcher.web."); k != "backoff" && k != "exit" {
			ks = append(ks, k)
		}
	}
	return strings.Join(ks, " ")
}

func TestEventStreamOverZeroMQ(t *testing.T) {
	p := startPoold(t, wireConfig)
	p.waitLog(`worker (\d+) serving`, 2)
	c := dialControl(t, p)
	// Both seen listening (ready) before the stream starts: their ready
	// events are not the kill's.
	proctest.Eventually(t, "web active", func() bool { return call(t, c, "status", map[string]any{"name": "web"})["status"] == "active" })
	sub := subscribe(t, p, c)
	var seq float64

	pids := call(t, c, "list", map[string]any{"name": "web"})["pids"].([]any)
	victim := int(pids[0].(float64))
	wids := call(t, c, "stats", map[string]any{"name": "web", "process": victim})["info"].(map[string]any)["wid"]
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	evs := collect(t, sub, &seq, func(e event) bool { return strings.HasSuffix(e.topic, ".ready") })
	if kinds(evs) != "reap spawn ready" {
		t.Fatalf("after kill -9: %s", kinds(evs))
	}
	reap, spawn := evs[0].p, evs[len(evs)-2].p
	if reap["process_pid"] != float64(victim) || reap["exit_code"] != -9.0 {
		t.Errorf("reap %v, want pid %d exit_code -9", reap, victim)
	}
	if spawn["process_id"] != wids || spawn["process_pid"] == float64(victim) {
		t.Errorf("spawn %v, want a new pid with wid %v", spawn, wids)
	}

	for _, step := range []struct {
		cmd   string
		props map[string]any
		want  string
		last  string
	}{
		{"incr", map[string]any{"name": "web"}, "spawn ready", "ready"},
		// As circusd: a worker stopped by decr gets kill and no reap; a
		// stopped watcher's workers get both; start comes after the spawns
		// (poold's ready, once each is seen listening, after it).
		{"decr", map[string]any{"name": "web"}, "kill", "kill"},
		{"stop", map[string]any{"name": "web"}, "kill kill reap reap stop", "stop"},
		{"start", map[string]any{"name": "web"}, "spawn spawn start", "start"},
	} {
		call(t, c, step.cmd, step.props)
		n := 0
		evs := collect(t, sub, &seq, func(e event) bool {
			if strings.HasSuffix(e.topic, "."+step.last) {
				n++
			}
			return n == strings.Count(step.want, step.last)
		})
		got := kinds(evs)
		// Two workers' events may interleave; compare as multisets with
		// the step's final event last.
		if sortWords(got) != sortWords(step.want) || !strings.HasSuffix(got, step.last) {
			t.Errorf("%s: events %q, want %q", step.cmd, got, step.want)
		}
	}
}

func sortWords(s string) string {
	w := strings.Fields(s)
	sort.Strings(w)
	return strings.Join(w, " ")
}

// TestPythonSubscriber checks a libzmq SUB receives poold's two-frame
// events with the right payloads.
func TestPythonSubscriber(t *testing.T) {
	py := python(t)
	p := startPoold(t, wireConfig)
	p.waitLog(`worker (\d+) serving`, 2)
	c := dialControl(t, p)
	script := `
import json, sys, zmq
s = zmq.Context().socket(zmq.SUB)
s.setsockopt(zmq.LINGER, 0)
s.setsockopt(zmq.RCVTIMEO, 20000)
s.connect(sys.argv[1])
s.setsockopt(zmq.SUBSCRIBE, b"watcher.web.")
live = False
while True:
    frames = s.recv_multipart()
    topic, payload = frames[0].decode(), json.loads(frames[1])
    if not live:
        if topic == "watcher.web.updated":
            live = True
            print("live", flush=True)
        continue
    print(json.dumps({"frames": len(frames), "topic": topic, "payload": payload}), flush=True)
    if topic == "watcher.web.spawn":
        break
`
	cmd := exec.Command(py, "-c", script, "ipc://"+p.dir+"/e.sock")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	// Provoke events until the subscriber says its subscription is live.
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(hang)
wait:
	for {
		call(t, c, "set", map[string]any{"name": "web", "options": map[string]any{"graceful_timeout": 5.0}})
		select {
		case l := <-lines:
			if l == "live" {
				break wait
			}
		case <-tick.C:
		case <-deadline:
			t.Fatal("python subscriber never became live")
		}
	}
	pids := call(t, c, "list", map[string]any{"name": "web"})["pids"].([]any)
	victim := int(pids[0].(float64))
	syscall.Kill(victim, syscall.SIGKILL)
	var got []map[string]any
	for l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("python line %q: %v", l, err)
		}
		if m["topic"] == "watcher.web.updated" || m["topic"] == "watcher.web.backoff" || m["topic"] == "watcher.web.exit" {
			continue
		}
		got = append(got, m)
	}
	if len(got) != 2 || got[0]["topic"] != "watcher.web.reap" || got[1]["topic"] != "watcher.web.spawn" {
		t.Fatalf("python saw %v", got)
	}
	reap := got[0]["payload"].(map[string]any)
	if got[0]["frames"] != 2.0 || reap["process_pid"] != float64(victim) || reap["exit_code"] != -9.0 || reap["seq"] == nil || reap["time"] == nil {
		t.Errorf("reap as python sees it: %v", got[0])
	}
}
