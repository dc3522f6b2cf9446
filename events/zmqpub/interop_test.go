package zmqpub

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/poold/poold/events"
)

// Debian's python3 with python3-zmq (libzmq), not the pyenv one on PATH.
const systemPython = "/usr/bin/python3"

// pySub prints each message as one JSON line until topic arbiter.end.
const pySub = `
import json, sys, zmq
ctx = zmq.Context()
s = ctx.socket(zmq.SUB)
s.setsockopt(zmq.LINGER, 0)
s.setsockopt(zmq.RCVTIMEO, 30000)
for p in sys.argv[2:]:
    s.setsockopt(zmq.SUBSCRIBE, p.encode())
s.connect(sys.argv[1])
while True:
    f = s.recv_multipart()
    print(json.dumps({"frames": len(f), "topic": f[0].decode(), "payload": json.loads(f[1])}), flush=True)
    if f[0] == b"arbiter.end":
        break
s.close()
ctx.term()
`

func needPyZMQ(t *testing.T) {
	t.Helper()
	out, err := exec.Command(systemPython, "-c", "import zmq; print(zmq.zmq_version())").CombinedOutput()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s with python3-zmq is required in CI: %v: %s", systemPython, err, out)
		}
		t.Skipf("%s cannot import zmq (install python3-zmq): %v", systemPython, err)
	}
	t.Logf("libzmq %s", out)
}

type pyLine struct {
	Frames  int            `json:"frames"`
	Topic   string         `json:"topic"`
	Payload map[string]any `json:"payload"`
}

// A pyzmq SUB (libzmq) receives the events with two frames, filtered by
// its prefixes.
func TestPyZMQSubscriber(t *testing.T) {
	needPyZMQ(t)
	for _, tc := range []struct{ name, ep string }{
		{"tcp", tcpEP()},
		{"ipc", ipcEP(t)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkLeaks(t)
			bus := events.NewBus(fixedClock)
			p := New(tc.ep, bus, testLogger(t, nil))
			startPublisher(t, p)

			ctx, cancel := context.WithTimeout(context.Background(), 2*hang)
			defer cancel()
			cmd := exec.CommandContext(ctx, systemPython, "-c", pySub, p.Endpoint(), "watcher.web.", "arbiter.")
			cmd.Stderr = tWriter{t}
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			lines := make(chan pyLine)
			readDone := make(chan struct{})
			go func() {
				defer close(readDone)
				defer close(lines)
				sc := bufio.NewScanner(stdout)
				for sc.Scan() {
					var l pyLine
					if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
						t.Errorf("python printed %q: %v", sc.Text(), err)
						continue
					}
					lines <- l
				}
			}()
			defer func() {
				cancel() // kills python if it is still running
				for range lines {
				}
				<-readDone
				_ = cmd.Wait()
			}()

			// Slow joiner: probe until python has seen one.
			const probe = "arbiter.probe"
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
		joined:
			for {
				bus.PublishTopic(probe, "", "probe", nil)
				select {
				case l, ok := <-lines:
					if !ok {
						t.Fatal("python exited before receiving anything")
					}
					if l.Topic == probe {
						break joined
					}
				case <-tick.C:
				case <-ctx.Done():
					t.Fatal("python never received a probe")
				}
			}

			spawn := bus.Publish("web", "spawn", map[string]any{"process_pid": 42, "process_id": 1})
			bus.Publish("db", "spawn", map[string]any{"process_pid": 43, "process_id": 1}) // filtered out
			reap := bus.Publish("web", "reap", map[string]any{"process_pid": 42, "process_id": 1, "exit_code": 3})
			end := bus.Publish("", "end", nil)

			var got []pyLine
			for l := range lines {
				if l.Topic == probe {
					continue
				}
				got = append(got, l)
				if l.Topic == "arbiter.end" {
					break
				}
			}
			want := []pyLine{
				{2, "watcher.web.spawn", map[string]any{"process_pid": 42.0, "process_id": 1.0, "time": 1700000000.5, "seq": float64(spawn.Seq)}},
				{2, "watcher.web.reap", map[string]any{"process_pid": 42.0, "process_id": 1.0, "exit_code": 3.0, "time": 1700000000.5, "seq": float64(reap.Seq)}},
				{2, "arbiter.end", map[string]any{"time": 1700000000.5, "seq": float64(end.Seq)}},
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("python received (-want +got):\n%s", d)
			}
		})
	}
}
