package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/poold/poold/arbiter/controller"
	"github.com/poold/poold/arbiter/wire"
)

// slowUpgrader is a poold whose loop, once the upgrade is asked, answers
// nothing for busy (as the old image waits for its workers' log writes on
// a slow disk), while its control endpoint still takes connections, and
// then reports the upgrade done.
type slowUpgrader struct {
	busy  time.Duration
	mu    sync.Mutex
	asked time.Time
}

func (s *slowUpgrader) handle(ctx context.Context, raw []byte) ([]byte, bool) {
	var req wire.Request
	if err := json.Unmarshal(raw, &req); err != nil {
		return nil, false
	}
	s.mu.Lock()
	asked := s.asked
	if req.Command == "upgrade" {
		s.asked = time.Now()
	}
	s.mu.Unlock()
	up := map[string]any{"id": 1, "state": "upgraded", "pid": os.Getpid()}
	switch {
	case req.Command == "upgrade":
		up = map[string]any{"id": 2, "state": "upgrading", "pid": os.Getpid()}
	case !asked.IsZero():
		t := time.NewTimer(time.Until(asked.Add(s.busy)))
		defer t.Stop()
		select {
		case <-ctx.Done():
			return nil, false
		case <-t.C:
		}
		up = map[string]any{"id": 2, "state": "upgraded", "pid": os.Getpid(), "old_version": "v1", "new_version": "v2"}
	}
	b, _ := json.Marshal(wire.OK(req.ID, map[string]any{"upgrade": up}))
	return b, true
}

// TestUpgradeWaitsForASlowOldImage: `poolctl upgrade` said "the new
// binary most likely hangs ... kill -9" after 20 s of unanswered
// upgrade_status, while the old image was only waiting for its workers'
// log writes on a slow disk; the kill it advised ends every worker. An
// endpoint that takes the request (its handshake completes) is a live
// poold, waited for; only one that accepts no connection is taken for a
// hang (TestUpgradeOfABinaryThatHangsSaysSo).
func TestUpgradeWaitsForASlowOldImage(t *testing.T) {
	savedHang, savedSilent := upgradeHang, upgradeSilent
	upgradeHang, upgradeSilent = time.Second, 30*time.Second
	t.Cleanup(func() { upgradeHang, upgradeSilent = savedHang, savedSilent })

	ep := serveSlowUpgrader(t, 4*time.Second)
	r := poolctl(t, "--endpoint", ep, "--timeout", "300ms", "upgrade")
	if r.code != 0 || !strings.Contains(r.stdout, "upgraded: poold v1 -> v2") {
		t.Fatalf("upgrade with an old image busy for 4s (each poll timing out after 300ms): %v\nwant it waited for and the outcome printed", r)
	}

	// One that never answers again is either image stuck: after
	// upgradeSilent poolctl says so, both ways, and what to do.
	upgradeSilent = 2 * time.Second
	ep = serveSlowUpgrader(t, time.Hour)
	r = poolctl(t, "--endpoint", ep, "--timeout", "300ms", "upgrade")
	if r.code != 3 || !strings.Contains(r.stderr, "has taken requests at "+ep+" and answered none for 2s") ||
		!strings.Contains(r.stderr, "either the new binary hangs after taking over the endpoints, or the old one still hands over") {
		t.Fatalf("upgrade with poold silent for good: %v\nwant exit 3 saying both possible causes", r)
	}
}

// serveSlowUpgrader serves a slowUpgrader busy for busy after the
// upgrade, until the test ends, and returns its endpoint.
func serveSlowUpgrader(t *testing.T, busy time.Duration) string {
	return serveControl(t, (&slowUpgrader{busy: busy}).handle)
}

// serveControl serves h on an ipc control endpoint of its own until the
// test ends, and returns the endpoint.
func serveControl(t *testing.T, h controller.Handler) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "pctl") // ipc paths are limited to 107 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ep := "ipc://" + filepath.Join(dir, "control.sock")
	c := controller.New(ep, h, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-c.Ready():
	case err := <-done:
		t.Fatalf("controller: %v", err)
	}
	return ep
}
