package main

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/proctest"
)

// TestUpgradePreflightStuckReadIsRefused: the pre-flight's read of the
// config in poold (checkInputs) had no bound: on a hung mount `poolctl
// upgrade` never got an answer, and poold's stop, which waits for the
// pre-flight, never ended. Now a read stuck longer than inputsStuckAfter
// refuses the upgrade naming the file and since when, an upgrade asked
// for while it is stuck is refused at once (no second read), a
// pre-flight whose poold stops returns at once, and once the read
// returns the next pre-flight reads again.
func TestUpgradePreflightStuckReadIsRefused(t *testing.T) {
	t.Parallel()
	was, wasLoad := inputsStuckAfter, inputsLoad
	inputsStuckAfter = time.Second
	release := make(chan struct{})
	var mu sync.Mutex
	calls := 0
	inputsLoad = func(path string, strict bool, notes io.Writer) (*configs.Config, error) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n == 1 {
			<-release // a stat on a hung mount
		}
		return nil, errors.New("no config") // checkInputs: "", the pre-flight goes on
	}
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
		if inputsReading.done != nil {
			<-inputsReading.done // the stub's read ended before the stubs go
		}
		inputsStuckAfter, inputsLoad = was, wasLoad
	})
	const path = "/mnt/hung/poold.toml"
	// bound catches a pre-flight that waits for the read without end
	const bound = 30 * time.Second
	run := func(ctx context.Context) error {
		errc := make(chan error, 1)
		go func() {
			_, err := preflight(ctx, hclog.NewNullLogger(), "/nonexistent/poold-new", path, false, nil)
			errc <- err
		}()
		select {
		case err := <-errc:
			return err
		case <-time.After(bound):
			t.Fatalf("the pre-flight did not return within %v of its read hanging", bound)
			return nil
		}
	}

	err := run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "read of the config file "+path) ||
		!strings.Contains(err.Error(), "has been stuck for") || !strings.Contains(err.Error(), "begun at") {
		t.Fatalf("a pre-flight whose read hangs: %v", err)
	}
	began := time.Now()
	err = run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "has been stuck for") {
		t.Errorf("a pre-flight while the read is stuck: %v", err)
	}
	if d := time.Since(began); d > inputsStuckAfter {
		t.Errorf("a pre-flight while the read is stuck took %v to be refused", d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // poold stops
	if err := run(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("a pre-flight of a poold that stops, with the read stuck: %v", err)
	}
	mu.Lock()
	n := calls
	mu.Unlock()
	if n != 1 {
		t.Errorf("%d reads while the first was stuck; want 1", n)
	}

	close(release)
	proctest.Eventually(t, "the stuck read returned", func() bool {
		select {
		case <-inputsReading.done:
			return true
		default:
			return false
		}
	})
	err = run(context.Background()) // reads again; runs the (missing) binary
	if err == nil || strings.Contains(err.Error(), "stuck") {
		t.Errorf("a pre-flight once the read returned: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if calls != 2 {
		t.Errorf("%d reads after the stuck one returned; want 2", calls)
	}
}
