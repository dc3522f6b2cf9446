package main

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/poold/poold/watcher/proctest"
)

// pyTopics is a plain pyzmq SUB, as a Circus plugin has: it prints each
// topic until it has printed argv[2].
const pyTopics = `
import sys, zmq
s = zmq.Context().socket(zmq.SUB)
s.setsockopt(zmq.SUBSCRIBE, b"")
s.setsockopt(zmq.RCVTIMEO, 60000)
s.connect(sys.argv[1])
while True:
    t = s.recv_multipart()[0].decode()
    print(t, flush=True)
    if t == sys.argv[2]:
        break
`

// A plain libzmq subscriber reconnects by itself after an upgrade closed
// its connection in the exec; the new image's first event,
// arbiter.upgrade, reaches it: the new image waits for the old one's
// subscribers before it publishes.
func TestUpgradeFirstEventReachesPlainSubscribers(t *testing.T) {
	t.Parallel()
	py := python(t)
	p := startUpgradable(t, fmt.Sprintf(upgradeConfig, 1))
	ctx, cancel := context.WithTimeout(context.Background(), 2*hang)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "-c", pyTopics, "ipc://"+p.dir+"/e.sock", "arbiter.upgrade")
	cmd.Stderr = &strings.Builder{}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	topics := make(chan string, 64)
	go func() {
		defer close(topics)
		for sc := bufio.NewScanner(out); sc.Scan(); {
			topics <- sc.Text()
		}
	}()
	defer func() {
		cancel()
		for range topics {
		}
		_ = cmd.Wait()
	}()
	// Subscribed once it sees the events of an incr.
	proctest.Eventually(t, "the subscriber to get events", func() bool {
		p.do("incr", map[string]any{"name": "web", "waiting": true})
		select {
		case <-topics:
			return true
		default:
			return false
		}
	})
	if o, refused := p.upgrade(); refused != nil || o["state"] != "upgraded" {
		t.Fatalf("upgrade: %v %v", o, refused)
	}
	var seen []string
	for topic := range topics {
		seen = append(seen, topic)
		if topic == "arbiter.upgrade" {
			return
		}
	}
	t.Fatalf("the subscriber never got arbiter.upgrade; after subscribing it got %v; python: %s", seen, cmd.Stderr)
}
