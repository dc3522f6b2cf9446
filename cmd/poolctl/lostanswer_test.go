package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-zeromq/zmq4"
)

// execingFake is a control endpoint that, like poold re-executing itself
// in an upgrade, drops the connection of the first request it gets
// without an answer and then serves on the same address again, answering
// every request with answer.
type execingFake struct {
	endpoint string
	mu       sync.Mutex
	commands []string
}

func startExecingFake(t *testing.T, answer func(req map[string]any) map[string]any) *execingFake {
	t.Helper()
	path := filepath.Join(t.TempDir(), "c.sock")
	f := &execingFake{endpoint: "ipc://" + path}
	ctx, cancel := context.WithCancel(context.Background())
	first := zmq4.NewRouter(ctx)
	if err := first.Listen(f.endpoint); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var second zmq4.Socket
	var closeFirst sync.Once
	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, err := first.Recv(); err != nil {
			return
		}
		f.record("(lost)")
		closeFirst.Do(func() { first.Close() })
		_ = os.Remove(path)
		sock := zmq4.NewRouter(ctx)
		if err := sock.Listen(f.endpoint); err != nil {
			t.Error(err)
			return
		}
		mu.Lock()
		second = sock
		mu.Unlock()
		for {
			msg, err := sock.Recv()
			if err != nil {
				return
			}
			var req map[string]any
			if len(msg.Frames) != 2 || json.Unmarshal(msg.Frames[1], &req) != nil {
				continue
			}
			f.record(req["command"].(string))
			rep := answer(req)
			rep["id"] = req["id"]
			b, _ := json.Marshal(rep)
			_ = sock.Send(zmq4.NewMsgFrom(msg.Frames[0], b))
		}
	}()
	t.Cleanup(func() {
		cancel() // ends a Recv of the second socket, closed or not yet made
		closeFirst.Do(func() { first.Close() })
		mu.Lock()
		if second != nil {
			second.Close()
		}
		mu.Unlock()
		<-done
	})
	return f
}

func (f *execingFake) record(c string) {
	f.mu.Lock()
	f.commands = append(f.commands, c)
	f.mu.Unlock()
}

func (f *execingFake) seen() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.commands...)
}

// TestReadOnlyCommandAskedAgainAfterLostConnection: a `poolctl status`
// (or list, stats...) whose connection closed before its answer, as
// every open connection does when poold re-executes itself in an upgrade,
// failed with exit 3 "Cannot reach poold ... connection lost: EOF" while
// poold was up, failing the monitoring that ran it. A read-only command
// changes nothing, so poolctl now asks again on a new connection.
func TestReadOnlyCommandAskedAgainAfterLostConnection(t *testing.T) {
	t.Parallel()
	f := startExecingFake(t, func(req map[string]any) map[string]any {
		return map[string]any{"status": "ok", "statuses": map[string]any{"web": "active"}}
	})
	r := poolctl(t, "--endpoint", f.endpoint, "status")
	if r.code != 0 || !strings.Contains(r.stdout, "web") || !strings.Contains(r.stdout, "active") {
		t.Fatalf("status across a lost connection: %v (the fake saw %v)", r, f.seen())
	}
}

// TestWriteCommandNotSentAgainAfterLostConnection: a command that
// changes something is not sent twice (incr would add two workers): its
// lost connection is reported, exit 3.
func TestWriteCommandNotSentAgainAfterLostConnection(t *testing.T) {
	t.Parallel()
	f := startExecingFake(t, func(req map[string]any) map[string]any {
		return map[string]any{"status": "ok", "numprocesses": 2}
	})
	r := poolctl(t, "--endpoint", f.endpoint, "incr", "web")
	if r.code != exitUnreachable || !strings.Contains(r.stderr, "connection lost") ||
		!strings.Contains(r.stderr, "may or may not have been done; look with poolctl status web") {
		t.Fatalf("incr across a lost connection: %v, want exit 3 naming the lost connection and how to look", r)
	}
	if got := f.seen(); slices.Contains(got, "incr") {
		t.Fatalf("the fake saw %v, want the incr once (the first, lost)", got)
	}
}

// TestWriteCommandCutByAnUpgradeSaysSo: an incr that the old image took
// just before its exec in an upgrade said only "Cannot reach poold ...
// connection lost" while the new image served: the user could not tell
// whether it was done, nor why. poolctl now asks the new image and says
// the upgrade cut it.
func TestWriteCommandCutByAnUpgradeSaysSo(t *testing.T) {
	t.Parallel()
	f := startExecingFake(t, func(req map[string]any) map[string]any {
		if req["command"] == "upgrade_status" {
			return map[string]any{"status": "ok", "upgrade": map[string]any{
				"id": 3, "state": "upgraded", "new_version": "v2", "pid": 4242,
				"took_over": time.Now().Format(time.RFC3339Nano)}}
		}
		return map[string]any{"status": "ok", "numprocesses": 2}
	})
	r := poolctl(t, "--endpoint", f.endpoint, "incr", "web")
	if r.code != exitUnreachable || !strings.Contains(r.stderr, "was upgraded in place (upgrade 3, now version v2, pid 4242) while 'incr web' waited") ||
		!strings.Contains(r.stderr, "may or may not have been done; look with poolctl status web") {
		t.Fatalf("incr cut by an upgrade: %v, want exit 3 saying the upgrade cut it", r)
	}
	if got := f.seen(); !slices.Equal(got, []string{"(lost)", "upgrade_status"}) {
		t.Fatalf("the fake saw %v, want the lost incr, then upgrade_status", got)
	}
}
