package watcher

import (
	"errors"
	"os"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/poold/poold/watcher/proctest"
)

// A new worker with readiness "spawn" that replaces old ones stays
// starting until it is seen waiting on its sockets (or the wait gives up);
// a worker that replaces nobody is ready at spawn.
func TestSpawnReadyReplacementWaitsUntilItListens(t *testing.T) {
	f := proctest.ListenerFile(t)
	h := newFakeHost()
	w, err := New(spec(2), Sockets{Files: []*os.File{f}}, h, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	h.seen = w
	w.Start()
	if len(pidsIn(w, ProcReady)) != 2 || len(h.checks) != 0 {
		t.Fatalf("first workers: ready %v, checks %v; want 2 ready at spawn, no check", pidsIn(w, ProcReady), h.checks)
	}
	w.Reload(true, false)
	var waits []Check
	for _, c := range h.checks {
		if c.Kind == CheckHandover {
			waits = append(waits, c)
		}
	}
	if len(waits) != 2 || len(pidsIn(w, ProcStarting)) != 2 || len(pidsIn(w, ProcStopping)) != 0 {
		t.Fatalf("reload: handover waits %v, starting %v, stopping %v; want 2 waits and the old workers serving",
			waits, pidsIn(w, ProcStarting), pidsIn(w, ProcStopping))
	}
	w.Checked(waits[0], nil)
	if len(pidsIn(w, ProcStopping)) != 0 {
		t.Fatalf("one new worker listening: old ones %v already stopping", pidsIn(w, ProcStopping))
	}
	w.Checked(waits[1], errors.New("not seen waiting for connections on its sockets")) // counts as ready all the same
	if len(pidsIn(w, ProcStopping)) != 2 || len(pidsIn(w, ProcReady)) != 2 {
		t.Fatalf("both handed over: stopping %v ready %v; want the 2 old stopping, the 2 new ready",
			pidsIn(w, ProcStopping), pidsIn(w, ProcReady))
	}
}
