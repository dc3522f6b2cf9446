package watcher

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/poold/poold/watcher/handover"
	"github.com/poold/poold/watcher/proctest"
)

// A new worker with readiness "spawn" in a watcher with sockets stays
// starting until it is seen waiting on them (or the wait gives up): one
// that replaces old ones, so they stop only then, and one of a first
// start too, so that one dying while it loads dies before it was ready.
func TestSpawnReadyReplacementWaitsUntilItListens(t *testing.T) {
	w, h := startedOnASocket(t, 2)
	waits := handoverChecks(h)
	if len(waits) != 2 || len(pidsIn(w, ProcStarting)) != 2 || w.Settled() {
		t.Fatalf("first start: handover waits %v, starting %v, settled %v; want 2 waits, 2 starting, not settled",
			waits, pidsIn(w, ProcStarting), w.Settled())
	}
	for _, c := range waits {
		w.Checked(c, nil)
	}
	if len(pidsIn(w, ProcReady)) != 2 || w.Status() != Active || !w.Settled() {
		t.Fatalf("first workers listening: ready %v, status %v", pidsIn(w, ProcReady), w.Status())
	}
	w.Reload(true, false)
	waits = handoverChecks(h)
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

// startedOnASocket is a watcher of n workers with readiness "spawn" on
// one listening socket, just started: each new worker waits for its
// handover (handoverChecks).
func startedOnASocket(t *testing.T, n int) (*Watcher, *fakeHost) {
	t.Helper()
	f := proctest.ListenerFile(t)
	h := newFakeHost()
	w, err := New(spec(n), Sockets{Files: []*os.File{f}}, h, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	h.seen = w
	w.Start()
	return w, h
}

// servingOnASocket is startedOnASocket with every worker seen waiting
// for connections: all ready.
func servingOnASocket(t *testing.T, n int) (*Watcher, *fakeHost) {
	t.Helper()
	w, h := startedOnASocket(t, n)
	for _, c := range handoverChecks(h) {
		w.Checked(c, nil)
	}
	return w, h
}

// handoverChecks returns and forgets the handover waits the host was
// asked for.
func handoverChecks(h *fakeHost) []Check {
	var waits, rest []Check
	for _, c := range h.checks {
		if c.Kind == CheckHandover {
			waits = append(waits, c)
		} else {
			rest = append(rest, c)
		}
	}
	h.checks = rest
	return waits
}

// Defect (report C §2): a worker of a first start with readiness "spawn"
// and no socket was ready at fork, so one that died at once (sh -c 'exit
// 3') never died "before it was ready" and a waited start answered ok.
// It is now ready once it has lived spawnWindow and then been seen
// started: one that dies sooner leaves its slot in backoff when the
// watcher settles, which is what a waited start reports.
func TestSpawnReadyFirstStartWaitsOutTheWindow(t *testing.T) {
	w, h := newWatcher(t, spec(2))
	w.spawnWindow = defaultSpawnWindow
	settled := false
	w.Start()
	w.WhenSettled(func() { settled = true })
	windows := h.takeTimers(TimerReadyDelay)
	if len(windows) != 2 || len(pidsIn(w, ProcStarting)) != 2 || settled || h.delays[windows[0]] != defaultSpawnWindow {
		t.Fatalf("start: windows %v, starting %v, settled %v; want 2 windows of %v, 2 starting, not settled",
			windows, pidsIn(w, ProcStarting), settled, defaultSpawnWindow)
	}
	w.Exited(windows[1].Pid, 3) // dies within its window
	if settled {
		t.Fatal("settled while wid 1 was still in its window")
	}
	w.Fire(windows[0])
	if settled {
		t.Fatal("settled when wid 1's window was over, before it was seen started")
	}
	w.Checked(handoverChecks(h)[0], nil) // seen asleep
	if !settled || fmt.Sprint(wids(w, ProcReady)) != "[1]" {
		t.Fatalf("settled %v, ready wids %v; want settled with wid 1 ready", settled, wids(w, ProcReady))
	}
	var empty []SlotInfo
	for _, s := range w.Slots() {
		if s.Pid == 0 {
			empty = append(empty, s)
		}
	}
	if len(empty) != 1 || empty[0].Wid != 2 || empty[0].State != string(HoldBackoff) || empty[0].LastExit != "exited with status 3" {
		t.Fatalf("slots without a worker %+v; want wid 2 in backoff, exited with status 3", empty)
	}
}

// A handover wait that ends because the worker exited does not make it
// ready: its exit, which follows, is a death before it was ready.
func TestHandoverOfAnExitedWorkerIsNoReadiness(t *testing.T) {
	w, h := startedOnASocket(t, 1)
	waits := handoverChecks(h)
	if len(waits) != 1 {
		t.Fatalf("start: handover waits %v, want 1", waits)
	}
	w.Checked(waits[0], fmt.Errorf("pid %d %w: no such file or directory", waits[0].Pid, handover.ErrExited))
	if len(pidsIn(w, ProcStarting)) != 1 || w.Settled() {
		t.Fatalf("after the wait saw it exit: starting %v, ready %v; want it still starting", pidsIn(w, ProcStarting), pidsIn(w, ProcReady))
	}
	w.Exited(waits[0].Pid, 3)
	if s := w.Slots(); len(s) != 1 || s[0].State != string(HoldBackoff) || !w.Settled() {
		t.Fatalf("after its exit: slots %+v, settled %v; want wid 1 in backoff, settled", s, w.Settled())
	}
}

// A new worker of a rolling reload whose worker processes all exited
// while it lives on (uvicorn --workers N with an app it cannot import)
// fails its readiness: the reload is abandoned, the old workers serve
// on, and the reason says where its output is. It used to count as
// ready, and the old workers stopped.
func TestHandoverOfAMasterWithoutWorkersAbandonsTheReload(t *testing.T) {
	w, h := servingOnASocket(t, 2)
	old := pidsIn(w, ProcReady)
	w.Reload(true, false)
	waits := handoverChecks(h)
	if len(waits) != 2 {
		t.Fatalf("reload: handover waits %v, want 2", waits)
	}
	w.Checked(waits[0], fmt.Errorf("%w (pids 7, 8, dead and not reaped by it)", handover.ErrWorkersExited))
	want := fmt.Sprintf("new worker pid %d (wid %d): its worker processes exited before any waited for connections (pids 7, 8, dead and not reaped by it); see its output: poolctl logs %s --wid %d, or poold's log (pid=%d)",
		waits[0].Pid, w.procs[waits[0].Pid].Wid, w.spec.Name, w.procs[waits[0].Pid].Wid, waits[0].Pid)
	if fmt.Sprint(pidsIn(w, ProcReady)) != fmt.Sprint(old) || len(pidsIn(w, ProcStopping)) != 2 || !strings.Contains(w.Reason(), want) {
		t.Fatalf("after the master without workers: ready %v (were %v), stopping %v, reason %q; want the old ready, the new stopping, a reason with %q",
			pidsIn(w, ProcReady), old, pidsIn(w, ProcStopping), w.Reason(), want)
	}
}

// A new worker of a rolling reload that exits before it was ready
// abandons the reload with a reason that says where its output is.
func TestReloadAbandonedByAnExitNamesTheOutput(t *testing.T) {
	w, h := servingOnASocket(t, 1)
	w.Reload(true, false)
	waits := handoverChecks(h)
	if len(waits) != 1 {
		t.Fatalf("reload: handover waits %v, want 1", waits)
	}
	wid := w.procs[waits[0].Pid].Wid
	w.Exited(waits[0].Pid, 3)
	want := fmt.Sprintf("exited with status 3 before it was ready; see its output: poolctl logs %s --wid %d, or poold's log (pid=%d)", w.spec.Name, wid, waits[0].Pid)
	if !strings.Contains(w.Reason(), want) {
		t.Fatalf("reason %q; want it to say %q", w.Reason(), want)
	}
}
