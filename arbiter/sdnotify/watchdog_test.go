package sdnotify

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/watcher/workertest"
)

// Across an in-place upgrade systemd must get a WATCHDOG=1 within
// WatchdogSec: the old image sends one with its RELOADING=1, and the new
// image (same pid) its first one as soon as its loop answers, not half a
// WatchdogSec after it started. Before, the gap could reach WatchdogSec
// plus the exec, and systemd killed poold with every worker.
func TestWatchdogAcrossAnUpgrade(t *testing.T) {
	path, c := listen(t)
	told(New(Options{Socket: path, Watchdog: time.Hour})).Reloading()
	if m := read(t, c); !slices.Contains(strings.Split(m, "\n"), "WATCHDOG=1") || !strings.HasPrefix(m, "RELOADING=1\n") {
		t.Fatalf("the old image's last message %q, want WATCHDOG=1 with RELOADING=1", m)
	}
	told(New(Options{Socket: path})).Reloading()
	if m := read(t, c); strings.Contains(m, "WATCHDOG") || !strings.HasPrefix(m, "RELOADING=1\n") {
		t.Fatalf("RELOADING=1 without a watchdog: %q, want no WATCHDOG=1", m)
	}
	stop := run(t, New(Options{Socket: path, Watchdog: time.Hour}), &fake{s: snap(1, 1), pingOK: true})
	until(t, c, "WATCHDOG=1")
	stop()
}

// waiting is a fake whose loop is busy for good: each look at it
// (Snapshot) waits until it gives up, as one does for seconds while a
// restart of a 1,000-worker watcher forks one worker after another.
type waiting struct{ *fake }

func (w waiting) Snapshot(ctx context.Context) (arbiter.Snapshot, error) {
	<-ctx.Done()
	return arbiter.Snapshot{}, ctx.Err()
}

// TestWatchdogWhileALookWaits: WATCHDOG=1 was sent by the goroutine that
// also looks at the arbiter for STATUS= and READY=1, and a look waits up
// to lookTimeout (2s) on a busy loop: no WATCHDOG=1 for 2.5s with
// WatchdogSec=1s, and systemd kills poold, every worker with it, in the
// middle of the restart its watchdog was meant to let through. The
// watchdog now has its own goroutine; a gap stays under WatchdogSec.
func TestWatchdogWhileALookWaits(t *testing.T) {
	path, c := listen(t)
	const dog = time.Second
	stop := run(t, New(Options{Socket: path, Watchdog: dog}), waiting{&fake{s: snap(1, 1), busy: true}})
	until(t, c, "WATCHDOG=1")
	last := time.Now()
	for end := last.Add(lookTimeout + dog); time.Now().Before(end); {
		until(t, c, "WATCHDOG=1")
		if gap := time.Since(last); gap >= dog {
			t.Fatalf("no WATCHDOG=1 for %v while a look at the busy loop waited; systemd kills poold after WATCHDOG_USEC (%v)", gap, dog)
		}
		last = time.Now()
	}
	stop()
}

// TestNoSocketIsLoggedOnce: with the watchdog on its own socket, a
// missing NOTIFY_SOCKET is still logged once, not once per sender, and
// the line names the message that could not go.
func TestNoSocketIsLoggedOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify.sock")
	logs := &workertest.Buffer{}
	n := New(Options{Socket: path, Watchdog: 40 * time.Millisecond, Log: hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Debug})})
	src := &looking{fake: &fake{s: snap(1, 1), pingOK: true, pinged: make(chan bool)}, looks: make(chan struct{}, 16)}
	stop := run(t, n, src)
	for i := 0; i < 2; i++ { // a READY=1 failed, and was tried again
		select {
		case <-src.looks:
		case <-time.After(hang):
			t.Fatal("no second look at the arbiter: READY=1 is not tried again")
		}
	}
	for i := 0; i < 3; i++ { // WATCHDOG=1 failed twice at least
		<-src.pinged
	}
	stop()
	if got := strings.Count(logs.String(), "cannot notify the service manager"); got != 1 || !strings.Contains(logs.String(), "message=") {
		t.Fatalf("logged %d times, want once, naming the message:\n%s", got, logs.String())
	}
}
