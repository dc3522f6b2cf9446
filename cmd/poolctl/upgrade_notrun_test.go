package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/go-zeromq/zmq4"
)

// refusingFake is a control endpoint that, like a poold about to exec in
// an upgrade, answers the first refuse requests with the refusal of a
// command not run (errno 5, not_run), then answer(req).
type refusingFake struct {
	endpoint string
	mu       sync.Mutex
	commands []string
}

func startRefusingFake(t *testing.T, refuse int, answer func(req map[string]any) map[string]any) *refusingFake {
	t.Helper()
	f := &refusingFake{endpoint: "ipc://" + filepath.Join(t.TempDir(), "c.sock")}
	ctx, cancel := context.WithCancel(context.Background())
	sock := zmq4.NewRouter(ctx)
	if err := sock.Listen(f.endpoint); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			msg, err := sock.Recv()
			if err != nil {
				return
			}
			var req map[string]any
			if len(msg.Frames) != 2 || json.Unmarshal(msg.Frames[1], &req) != nil {
				continue
			}
			f.mu.Lock()
			f.commands = append(f.commands, req["command"].(string))
			n := len(f.commands)
			f.mu.Unlock()
			rep := map[string]any{"status": "error", "errno": 5, "not_run": true,
				"reason": "poold is being upgraded in place (it re-executes itself now): not run; send it again"}
			if n > refuse {
				rep = answer(req)
			}
			rep["id"] = req["id"]
			b, _ := json.Marshal(rep)
			_ = sock.Send(zmq4.NewMsgFrom(msg.Frames[0], b))
		}
	}()
	t.Cleanup(func() {
		cancel()
		sock.Close()
		<-done
	})
	return f
}

func (f *refusingFake) seen() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.commands...)
}

// TestWriteNotRunByAnUpgradeSentAgain: a command that an upgrading poold
// refused as not run (its loop was in the hand-over, about to exec) is
// known not to have been done, so poolctl sends it again, a write too,
// and prints the new image's answer.
func TestWriteNotRunByAnUpgradeSentAgain(t *testing.T) {
	t.Parallel()
	f := startRefusingFake(t, 2, func(req map[string]any) map[string]any {
		return map[string]any{"status": "ok", "numprocesses": 3}
	})
	r := poolctl(t, "--endpoint", f.endpoint, "incr", "web")
	if r.code != 0 || !strings.Contains(r.stdout, "3") {
		t.Fatalf("incr refused as not run, twice: %v (the fake saw %v), want it sent again and answered", r, f.seen())
	}
	if got := f.seen(); !slices.Equal(got, []string{"incr", "incr", "incr"}) {
		t.Fatalf("the fake saw %v, want the incr three times (refused twice, then run)", got)
	}
}

// TestNotRunWithJSONSentAgain: with --json, which reads only a reply's
// head, the refusal is recognised too.
func TestNotRunWithJSONSentAgain(t *testing.T) {
	t.Parallel()
	f := startRefusingFake(t, 1, func(req map[string]any) map[string]any {
		return map[string]any{"status": "ok", "numprocesses": 3}
	})
	r := poolctl(t, "--endpoint", f.endpoint, "--json", "decr", "web")
	if r.code != 0 || !strings.Contains(r.stdout, `"numprocesses":3`) {
		t.Fatalf("decr --json refused as not run once: %v (the fake saw %v)", r, f.seen())
	}
}
