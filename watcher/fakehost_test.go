package watcher

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher/spawn"
)

// fakeHost drives a Watcher without processes: spawns get made-up pids,
// timers and checks are recorded for the test to fire, time is injected.
type fakeHost struct {
	now     time.Time
	nextPid int
	spawned []int // pids in spawn order
	signals []string
	timers  []Timer
	checks  []Check
	events  []string
	reaps   []map[string]any // fields of each reap event
	exits   []map[string]any // fields of each exit event
	kills   []map[string]any // fields of each kill event
	fail    error            // next Spawn fails with this
	// turnLimited makes SpawnTurn count down turnLeft (the loop's budget).
	turnLimited bool
	turnLeft    int
	// failAlways makes every Spawn fail while set.
	failAlways error
	delays     map[Timer]time.Duration
	starts     []string       // "begin WID" and "finish WID", in order
	unchecked  bool           // a benchmark's: no walks on every spawn
	seen       *Watcher       // the watcher made by newWatcher, or the last that spawned: its tally is checked on every call
	lastSpec   spawn.ProcSpec // what the last Spawn was asked to exec
	// peak is the most workers the watcher had at once, counted at each
	// Spawn: its live ones (draining included), its starts in flight and
	// this one.
	peak int
}

func newFakeHost() *fakeHost {
	return &fakeHost{now: time.Unix(1_700_000_000, 0), nextPid: 100, delays: map[Timer]time.Duration{}}
}

func (h *fakeHost) Now() time.Time { return h.now }

func (h *fakeHost) Spawn(w *Watcher, wid int, spec spawn.ProcSpec) func() (int, error) {
	h.starts = append(h.starts, fmt.Sprint("begin ", wid))
	h.lastSpec = spec
	h.peak = max(h.peak, len(w.procs)+len(w.inflight)+1)
	pid, err := h.spawn(w)
	return func() (int, error) {
		h.starts = append(h.starts, fmt.Sprint("finish ", wid))
		return pid, err
	}
}

func (h *fakeHost) spawn(w *Watcher) (int, error) {
	h.seen = w
	h.checkHoldCounts(w)
	if h.failAlways != nil {
		return 0, h.failAlways
	}
	if h.fail != nil {
		err := h.fail
		h.fail = nil
		return 0, err
	}
	h.nextPid++
	h.spawned = append(h.spawned, h.nextPid)
	return h.nextPid, nil
}

// checkHoldCounts panics (failing the test) when the watcher's counts of
// held slots and of processes per wid differ from a walk of its slots and
// processes: every test that spawns checks them. Not in benchmarks
// (unchecked), where the walks on every spawn would be most of what they
// measure.
func (h *fakeHost) checkHoldCounts(w *Watcher) {
	if h.unchecked {
		return
	}
	want := map[Hold]int{}
	for _, s := range w.slots {
		if s.hold != HoldNone {
			want[s.hold]++
		}
	}
	for wid, s := range w.slots {
		if (s.hold == HoldDue) != w.due[wid] {
			panic(fmt.Sprintf("watcher %s: wid %d in hold %q, in the due set: %v", w.Name(), wid, s.hold, w.due[wid]))
		}
	}
	if len(w.due) != want[HoldDue] {
		panic(fmt.Sprintf("watcher %s: %d wids in the due set, %d slots due", w.Name(), len(w.due), want[HoldDue]))
	}
	for _, hold := range []Hold{HoldDue, HoldBackoff, HoldPaused, HoldFailed, HoldExited, HoldHook} {
		if w.holdN[hold] != want[hold] {
			panic(fmt.Sprintf("watcher %s: %d slots counted in hold %q, %d there: %v", w.Name(), w.holdN[hold], hold, want[hold], w.holdN))
		}
	}
	checkWidCounts(w)
	checkTally(w)
}

// checkSeen checks the tally of the last watcher that spawned: a host
// call is made between changes, never in the middle of one.
func (h *fakeHost) checkSeen() {
	if !h.unchecked && h.seen != nil {
		checkTally(h.seen)
	}
}

// checkTally panics when the watcher's tally differs from a walk of its
// processes.
func checkTally(w *Watcher) {
	var want tally
	for _, p := range w.live() {
		k := w.kindOf(p)
		want.kinds[k]++
		if k == kindCur && p.State == ProcReady {
			want.readyCur++
		}
	}
	if want != w.tally {
		panic(fmt.Sprintf("watcher %s: tally %+v, a walk counts %+v", w.Name(), w.tally, want))
	}
}

// live is every process the watcher counts: its processes, and those
// whose pid a newer one took before their exit came (EndedEarlier).
func (w *Watcher) live() []*Process {
	out := append([]*Process(nil), w.earlier...)
	for _, p := range w.procs {
		out = append(out, p)
	}
	return out
}

// checkWidCounts panics when the watcher's count of live processes per
// wid differs from a walk of its processes, or when a wid below freeFrom
// (where fill begins to look) is free.
func checkWidCounts(w *Watcher) {
	perWid := map[int]int{}
	for _, p := range w.live() {
		perWid[p.Wid]++
	}
	same := len(perWid) == len(w.widProcs)
	for wid, n := range perWid {
		same = same && w.widProcs[wid] == n
	}
	if !same {
		panic(fmt.Sprintf("watcher %s: processes per wid counted %v, there %v", w.Name(), w.widProcs, perWid))
	}
	for wid := 1; wid < w.freeFrom; wid++ {
		if s := w.slots[wid]; perWid[wid] == 0 && (s == nil || s.hold == HoldNone) {
			panic(fmt.Sprintf("watcher %s: wid %d is free, below freeFrom %d", w.Name(), wid, w.freeFrom))
		}
	}
}

func (h *fakeHost) Signal(pid int, sig syscall.Signal) error {
	h.checkSeen()
	h.signals = append(h.signals, fmt.Sprintf("%d:%s", pid, configs.SignalName(sig)))
	return nil
}

func (h *fakeHost) SignalProcess(pid int, sig syscall.Signal) error {
	h.checkSeen()
	h.signals = append(h.signals, fmt.Sprintf("%d:%s (process)", pid, configs.SignalName(sig)))
	return nil
}

func (h *fakeHost) After(d time.Duration, t Timer) {
	h.checkSeen()
	h.timers = append(h.timers, t)
	h.delays[t] = d
}

// SpawnTurn: the fake's loop turns never run out, unless a test limits
// them (turnLimited: turnLeft spawns are left in the turn).
func (h *fakeHost) SpawnTurn() bool {
	if !h.turnLimited {
		return true
	}
	if h.turnLeft == 0 {
		return false
	}
	h.turnLeft--
	return true
}

func (h *fakeHost) Check(c Check, timeout time.Duration, fn func(context.Context) error) func() {
	h.checks = append(h.checks, c)
	return func() {}
}

func (h *fakeHost) Publish(name string, kind events.Kind, fields map[string]any) {
	h.checkSeen()
	h.events = append(h.events, string(kind))
	switch kind {
	case events.KindReap:
		h.reaps = append(h.reaps, fields)
	case events.KindExit:
		h.exits = append(h.exits, fields)
	case events.KindKill:
		h.kills = append(h.kills, fields)
	}
}

// takeTimers returns and forgets the recorded timers of kind.
func (h *fakeHost) takeTimers(kind TimerKind) []Timer {
	var out, rest []Timer
	for _, t := range h.timers {
		if t.Kind == kind {
			out = append(out, t)
		} else {
			rest = append(rest, t)
		}
	}
	h.timers = rest
	return out
}

func spec(n int) configs.Watcher {
	s := configs.DefaultWatcher("web")
	s.Cmd = "/bin/true"
	s.NumProcesses = n
	return s
}

func newWatcher(t *testing.T, s configs.Watcher) (*Watcher, *fakeHost) {
	t.Helper()
	return newWatcherLog(t, s, hclog.NewNullLogger())
}

// newLoggedWatcher is newWatcher with w's log, from Info up, in log.
func newLoggedWatcher(t *testing.T, s configs.Watcher) (w *Watcher, h *fakeHost, log *bytes.Buffer) {
	t.Helper()
	log = &bytes.Buffer{}
	w, h = newWatcherLog(t, s, hclog.New(&hclog.LoggerOptions{Output: log, Level: hclog.Info}))
	return w, h, log
}

// startedNotify starts a watcher of s with readiness "notify", as
// newLoggedWatcher makes it, and tells it that each of the workers it
// started is ready (READY=1): it returns with s.NumProcesses ready.
func startedNotify(t *testing.T, s configs.Watcher) (w *Watcher, h *fakeHost, log *bytes.Buffer) {
	t.Helper()
	s.Readiness = "notify"
	w, h, log = newLoggedWatcher(t, s)
	w.Start()
	readyStarting(w)
	return w, h, log
}

// readyStarting reports every starting worker of w ready.
func readyStarting(w *Watcher) {
	for _, pid := range pidsIn(w, ProcStarting) {
		w.Ready(pid)
	}
}

func newWatcherLog(t *testing.T, s configs.Watcher, log hclog.Logger) (*Watcher, *fakeHost) {
	t.Helper()
	h := newFakeHost()
	w, err := New(s, Sockets{}, h, log)
	if err != nil {
		t.Fatal(err)
	}
	h.seen = w        // its tally is checked from its first call on (an adopted one spawns none)
	w.spawnWindow = 0 // ready at spawn, unless a test says otherwise
	return w, h
}

// wids maps the live pids to their wids, by state.
func wids(w *Watcher, state string) []int {
	var out []int
	for _, p := range w.Processes() {
		if p.State == state {
			out = append(out, p.Wid)
		}
	}
	sort.Ints(out)
	return out
}

func pidsIn(w *Watcher, state string) []int {
	var out []int
	for _, p := range w.Processes() {
		if p.State == state {
			out = append(out, p.Pid)
		}
	}
	sort.Ints(out)
	return out
}
