package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/watcher/proctest"
)

// installNewBinary puts, over exe, a "new binary" that passes the
// pre-flight (it hands --upgrade-check, --check and --version to the real
// poold) and, exec'ed to take over, runs the shell lines then instead.
// Written beside and renamed over, as a package install does.
func installNewBinary(t *testing.T, exe, then string) {
	t.Helper()
	script := "#!/bin/sh\n" +
		`for a in "$@"; do case "$a" in --upgrade-check|--check|--version) exec ` + filepath.Join(binaries(t), "poold") + ` "$@";; esac; done` + "\n" +
		then + "\n"
	if err := os.WriteFile(exe+".new", []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(exe+".new", exe); err != nil {
		t.Fatal(err)
	}
}

// TestUpgradeOfABinaryThatDiesSaysSo: when the new binary passed the
// pre-flight and then died in the exec, taking poold's pid and workers
// with it, `poolctl upgrade` polled the stale socket file for 2 minutes
// and then said poold "did not report the upgrade's outcome". It now
// says, within seconds, that poold exited during the upgrade. A normal
// upgrade first, with the endpoint dialled all along, measures the window
// poolctl must not mistake for that: the endpoint is taken over by fd and
// never refuses a connect.
func TestUpgradeOfABinaryThatDiesSaysSo(t *testing.T) {
	p := startPooldWith(t, pooldConf{arbiter: "\n[sockets.s]\nhost = \"127.0.0.1\"\nport = 0\n"})
	exe := filepath.Join(p.dir, "poold")
	copyFile(t, filepath.Join(binaries(t), "poold"), exe)
	p.stop(t)
	mark := len(p.log())
	p.launch(t, exe, p.cmd.Args[1])
	// launch returns once poold answers; its start's lines ("socket
	// bound" among them) may reach the log later, through its queue, and
	// must not be read as the upgraded image's.
	if !proctest.Poll(hangBound, func() bool { return strings.Contains(p.log()[mark:], "poold started") }) {
		t.Fatalf("poold answers but its log does not say it started:\n%s", p.log()[mark:])
	}
	before := len(p.log())
	refusedFor, stop := watchRefusals(p.control)
	if r := poolctl(t, "--endpoint", p.control, "upgrade"); r.code != 0 {
		t.Fatalf("a normal upgrade: %v", r)
	}
	t.Logf("longest run of refused connects during a normal upgrade: %v", stop())
	if d := refusedFor(); d > 0 {
		t.Errorf("the control endpoint refused connects for %v during a normal upgrade", d)
	}
	// poold's log goes through a queue: the new image's lines may reach
	// the file a moment after poolctl has the upgrade's outcome, and
	// seconds after on a loaded host. The bound only catches a hang.
	taken := func() bool {
		log := p.log()[before:]
		return strings.Contains(log, "socket taken over") && strings.Contains(log, "control endpoint taken over")
	}
	if !proctest.Poll(hangBound, taken) {
		t.Errorf("after an upgrade the log should say the socket and the control endpoint were taken over:\n%s", p.log()[before:])
	}
	if log := p.log()[before:]; strings.Contains(log, "socket bound") || strings.Contains(log, "control endpoint bound") {
		t.Errorf("after an upgrade the socket and the control endpoint were bound again, not taken over:\n%s", log)
	}

	// Dies before it loads anything.
	installNewBinary(t, exe, `echo "wrapper: refusing to start: $*" >&2; exit 1`)
	r := poolctl(t, "--endpoint", p.control, "upgrade")
	want := "poold exited during the upgrade (after its pre-flight passed: in the exec or as the new image started; its log says why)"
	if r.code != 3 || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "start it again") {
		t.Fatalf("upgrade to a binary that dies in the exec took %v: %v\nwant exit 3 and %q; poold's log:\n%s", r.took, r, want, p.log())
	}
	t.Logf("poolctl said poold was gone after %v", r.took)
	// poold's pid has gone (its endpoint refused connections for
	// upgradeGone); the test's own Wait on it hears so once its output
	// pipe is drained, which on a loaded host may come later still.
	hangTimer := time.NewTimer(hangBound)
	defer hangTimer.Stop()
	select {
	case <-p.exited:
	case <-hangTimer.C:
		t.Fatalf("poolctl said poold exited, but it still runs %v later; log:\n%s", hangBound, p.log())
	}
}

// hangBound bounds this file's waits for what poold does on its own: far
// longer than any working wait, even under -race on a loaded host.
const hangBound = 60 * time.Second

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// watchRefusals dials endpoint in a loop until stop is called; refusedFor
// then tells the longest run of refused connects.
func watchRefusals(endpoint string) (refusedFor func() time.Duration, stop func() time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	var (
		wg      sync.WaitGroup
		longest time.Duration
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		var since time.Time
		for ctx.Err() == nil {
			err := ping(endpoint)
			switch {
			case errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, os.ErrNotExist):
				if since.IsZero() {
					since = time.Now()
				}
				longest = max(longest, time.Since(since)+time.Nanosecond)
			default:
				since = time.Time{}
			}
		}
	}()
	stop = func() time.Duration {
		cancel()
		wg.Wait()
		return longest
	}
	return func() time.Duration { return longest }, stop
}
