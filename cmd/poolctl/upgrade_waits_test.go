package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/poold/poold/arbiter/wire"
)

// heldUpgrader is a poold whose upgrade waits for busy behind a waited
// reload, as poold parks it until its watchers settle: upgrade_status
// says why meanwhile (state upgrading, a reason), then reports it done.
type heldUpgrader struct {
	busy  time.Duration
	mu    sync.Mutex
	asked time.Time
}

const heldWhy = `waited commands not answered yet (reload "celery")`

func (s *heldUpgrader) handle(ctx context.Context, raw []byte) ([]byte, bool) {
	var req wire.Request
	if err := json.Unmarshal(raw, &req); err != nil {
		return nil, false
	}
	s.mu.Lock()
	if req.Command == "upgrade" && s.asked.IsZero() {
		s.asked = time.Now()
	}
	asked := s.asked
	s.mu.Unlock()
	up := map[string]any{"id": 1, "state": "upgraded", "pid": os.Getpid()}
	switch {
	case req.Command == "upgrade":
		// Parked until the reload is over, as poold does.
		t := time.NewTimer(s.busy)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return nil, false
		case <-t.C:
		}
		up = map[string]any{"id": 2, "state": "upgrading", "pid": os.Getpid()}
	case asked.IsZero():
	case time.Since(asked) < s.busy:
		up = map[string]any{"id": 2, "state": "upgrading", "pid": os.Getpid(), "reason": heldWhy}
	default:
		up = map[string]any{"id": 2, "state": "upgraded", "pid": os.Getpid(), "old_version": "v1", "new_version": "v2"}
	}
	b, _ := json.Marshal(wire.OK(req.ID, map[string]any{"upgrade": up}))
	return b, true
}

// TestUpgradeSaysWhatItWaitsFor: `poolctl upgrade` asked during a waited
// reload printed nothing for the 22 s the upgrade waited for it (r59b
// review), while upgrade_status knew why. On a terminal it says so, once;
// a script's stderr (not a terminal) stays quiet.
func TestUpgradeSaysWhatItWaitsFor(t *testing.T) {
	for _, tty := range []bool{true, false} {
		saved := stderrNotes
		stderrNotes = func(io.Writer) bool { return tty }
		t.Cleanup(func() { stderrNotes = saved })
		ep := serveHeldUpgrader(t, 2*time.Second)
		r := poolctl(t, "--endpoint", ep, "--timeout", "300ms", "upgrade")
		if r.code != 0 || !strings.Contains(r.stdout, "upgraded: poold v1 -> v2") {
			t.Fatalf("upgrade held 2s: %v\nwant the outcome printed", r)
		}
		n := strings.Count(r.stderr, "the upgrade waits: "+heldWhy)
		if tty && n != 1 || !tty && r.stderr != "" {
			t.Errorf("upgrade held 2s, stderr a terminal: %v: %v\nwant the reason said once on a terminal, nothing otherwise", tty, r)
		}
	}
}

// serveHeldUpgrader serves a heldUpgrader until the test ends and
// returns its endpoint.
func serveHeldUpgrader(t *testing.T, busy time.Duration) string {
	return serveControl(t, (&heldUpgrader{busy: busy}).handle)
}
