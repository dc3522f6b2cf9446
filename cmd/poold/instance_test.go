package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/watcher/proctest"
)

// pyPayloads is a plain pyzmq SUB, as a Circus plugin has: it prints each
// event as its topic, a tab and its payload, for as long as it runs. libzmq
// reconnects it by itself when poold restarts.
const pyPayloads = `
import sys, zmq
s = zmq.Context().socket(zmq.SUB)
s.setsockopt(zmq.SUBSCRIBE, b"")
s.connect(sys.argv[1])
while True:
    t, p = s.recv_multipart()
    print(t.decode() + "\t" + p.decode(), flush=True)
`

// subEvent is one event a subscriber printed.
type subEvent struct {
	topic   string
	payload map[string]any
}

// startPySub runs pyPayloads on endpoint until the test ends.
func startPySub(t *testing.T, endpoint string) <-chan subEvent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, python(t), "-c", pyPayloads, endpoint)
	stderr := &strings.Builder{}
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	evs := make(chan subEvent, 4096)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for sc := bufio.NewScanner(out); sc.Scan(); {
			topic, payload, _ := strings.Cut(sc.Text(), "\t")
			var p map[string]any
			if err := json.Unmarshal([]byte(payload), &p); err != nil {
				t.Errorf("subscriber: %s: payload not JSON: %v: %q", topic, err, payload)
				continue
			}
			select {
			case evs <- subEvent{topic, p}:
			default:
				t.Errorf("subscriber: test fell behind at %s", topic)
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("subscriber stderr: %s", stderr)
		}
	})
	return evs
}

// nextWith waits for an event whose topic is topic, and returns it.
func nextWith(t *testing.T, evs <-chan subEvent, topic string) subEvent {
	t.Helper()
	deadline := time.NewTimer(hang)
	defer deadline.Stop()
	var seen []string
	for {
		select {
		case ev := <-evs:
			if ev.topic == topic {
				return ev
			}
			seen = append(seen, ev.topic)
		case <-deadline.C:
			t.Fatalf("no %s event within %s; got %v", topic, hang, seen)
		}
	}
}

// restart stops poold with SIGTERM, as a service manager does, and starts
// it again on the same config and endpoints.
func (p *upProc) restart() {
	p.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(hang):
		p.t.Fatalf("poold did not exit within %s of SIGTERM", hang)
	}
	p.done = make(chan struct{})
	p.start()
}

// A subscriber can tell, from the events alone, that a new poold publishes
// (seq started again at 1), and that an in-place upgrade did not (seq went
// on): every payload names the poold instance, as events_since does. Before
// instance, a subscriber that followed README's resync recipe skipped every
// event of the restarted poold until its seq passed the old one's.
func TestEventInstanceAcrossUpgradeAndRestart(t *testing.T) {
	t.Parallel()
	p := startUpgradable(t, fmt.Sprintf(upgradeConfig, 1))
	evs := startPySub(t, "ipc://"+p.dir+"/e.sock")
	// Subscribed once it sees the events of an incr.
	var first subEvent
	proctest.Eventually(t, "the subscriber to get events", func() bool {
		p.do("incr", map[string]any{"name": "web", "waiting": true})
		select {
		case first = <-evs:
			return true
		default:
			return false
		}
	})
	inst, _ := first.payload["instance"].(string)
	if inst == "" {
		t.Fatalf("%s payload without an instance: %v", first.topic, first.payload)
	}
	if r := p.do("events_since", map[string]any{"seq": 0}); r["instance"] != inst {
		t.Fatalf("events_since instance %v, the events' %q", r["instance"], inst)
	}

	// An in-place upgrade keeps the instance: seq goes on.
	if o, refused := p.upgrade(); refused != nil || o["state"] != "upgraded" {
		t.Fatalf("upgrade: %v %v", o, refused)
	}
	up := nextWith(t, evs, "arbiter.upgrade")
	if up.payload["instance"] != inst || up.payload["seq"].(float64) <= first.payload["seq"].(float64) {
		t.Fatalf("after an upgrade: %v; want instance %q and a seq above %v", up.payload, inst, first.payload["seq"])
	}

	// A restart gives a new instance: seq starts again.
	p.restart()
	proctest.Eventually(t, "the subscriber to get the new poold's events", func() bool {
		p.do("incr", map[string]any{"name": "web", "waiting": true})
		for {
			select {
			case ev := <-evs:
				if ev.topic != "watcher.web.spawn" {
					continue
				}
				now, _ := ev.payload["instance"].(string)
				if now == "" || now == inst {
					t.Fatalf("a spawn of the restarted poold has instance %q, the first poold's was %q: %v", now, inst, ev.payload)
				}
				if r := p.do("events_since", map[string]any{"seq": 0}); r["instance"] != now {
					t.Fatalf("events_since instance %v after the restart, the events' %q", r["instance"], now)
				}
				return true
			default:
				return false
			}
		}
	})
}
