package watcher

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// limited starts a watcher of n workers with max_rss 1000 bytes and
// limit_threshold 2, ready at spawn.
func limited(t *testing.T, n int) (*Watcher, *fakeHost) {
	t.Helper()
	s := spec(n)
	s.MaxRSS = 1000
	s.LimitThreshold = 2
	s.FlappingAttempts = 3
	s.FlappingMaxRetry = 0
	w, h := newWatcher(t, s)
	w.Start()
	return w, h
}

// overLimit feeds pid limit_threshold samples over max_rss.
func overLimit(w *Watcher, pid int) {
	w.Sampled(pid, 5000, 0)
	w.Sampled(pid, 5000, 0)
}

// Defect (tester, limits §1): a worker over max_rss soon after its start
// was recycled through the rolling path forever: its replacement started
// first (twice the memory over the limit, for a moment), no backoff, no
// flapping, status active. It is now stopped without a replacement
// first, its exit is an early death of its slot (backoff, then flapping
// with the limit and the figure, then failed), reason "limit".
func TestYoungOverLimitWorkerIsAnEarlyDeath(t *testing.T) {
	w, h := limited(t, 1)
	const why = "over its limit soon after start: rss 5000 bytes over max_rss 1000"
	for death := 1; death <= 3; death++ {
		pids := w.Pids()
		if len(pids) != 1 {
			t.Fatalf("death %d: workers %v, want 1", death, w.Processes())
		}
		h.now = h.now.Add(3 * time.Second) // under backoff_reset (10s)
		overLimit(w, pids[0])
		if fmt.Sprint(pidsIn(w, ProcStopping)) != fmt.Sprint(pids) || len(w.Pids()) != 1 {
			t.Fatalf("death %d: %v, want the fat worker stopping with no replacement beside it", death, w.Processes())
		}
		w.Exited(pids[0], -15)
		r := h.reaps[len(h.reaps)-1]
		if r["reason"] != ReasonLimit || r["exit_reason"] != why+"; killed by signal TERM" {
			t.Fatalf("death %d: reap %v, want reason %q and exit_reason %q", death, r, ReasonLimit, why+"; killed by signal TERM")
		}
		sl := w.Slots()
		switch death {
		case 1:
			if len(sl) != 1 || sl[0].State != string(HoldBackoff) || w.Status() != Active {
				t.Fatalf("after one limit death: slots %+v, status %v; want wid 1 in backoff, active", sl, w.Status())
			}
		case 2:
			if st, rs := w.Status(), w.Reason(); st != Flapping || !strings.Contains(rs, "wid 1 is flapping: "+why) {
				t.Fatalf("after two limit deaths: status %v, reason %q; want flapping naming %q", st, rs, why)
			}
		case 3:
			if st, rs := w.Status(), w.Reason(); st != Failed || !strings.Contains(rs, "wid 1 failed: "+why) {
				t.Fatalf("after flapping_attempts limit deaths: status %v, reason %q; want failed naming %q", st, rs, why)
			}
			return
		}
		for _, tm := range h.takeTimers(TimerRespawn) {
			h.now = h.now.Add(h.delays[tm])
			w.Fire(tm)
		}
	}
}

// The streak over the limit that counts is the one that began young: a
// worker over max_rss from its first sample is an early death even when
// limit_threshold samples take longer than backoff_reset.
func TestOverLimitFromTheStartIsEarlyEvenWhenSeenLate(t *testing.T) {
	w, h := limited(t, 1)
	pid := w.Pids()[0]
	h.now = h.now.Add(2 * time.Second)
	w.Sampled(pid, 5000, 0)
	h.now = h.now.Add(15 * time.Second) // past backoff_reset
	w.Sampled(pid, 5000, 0)
	if fmt.Sprint(pidsIn(w, ProcStopping)) != fmt.Sprint([]int{pid}) || len(w.Pids()) != 1 {
		t.Fatalf("%v, want the fat worker stopping with no replacement beside it", w.Processes())
	}
	w.Exited(pid, -15)
	if sl := w.Slots(); len(sl) != 1 || sl[0].State != string(HoldBackoff) {
		t.Fatalf("slots %+v, want wid 1 in backoff", sl)
	}
}

// A worker that lived long and then went over its limit (a slow leak) is
// what max_rss is for: it is replaced the rolling way, its slot keeps no
// crash history, and the watcher stays active.
func TestLongLivedOverLimitWorkerIsRecycledRolling(t *testing.T) {
	w, h := limited(t, 1)
	for round := 1; round <= 4; round++ {
		fat := w.Pids()[0]
		h.now = h.now.Add(time.Minute)
		overLimit(w, fat)
		if fmt.Sprint(pidsIn(w, ProcStopping)) != fmt.Sprint([]int{fat}) || len(pidsIn(w, ProcReady)) != 1 {
			t.Fatalf("round %d: %v, want its replacement ready before it stops", round, w.Processes())
		}
		w.Exited(fat, -15)
		if st := w.Status(); st != Active || !w.Settled() || len(w.Pids()) != 1 {
			t.Fatalf("round %d: status %v settled %v workers %v; want active with one worker", round, st, w.Settled(), w.Processes())
		}
		for wid, s := range w.slots {
			if s.hold != HoldNone || s.counters != (Counters{}) {
				t.Fatalf("round %d: wid %d in hold %q with crash history %+v after a leak recycle", round, wid, s.hold, s.counters)
			}
		}
	}
}

// Defect (tester, limits §2): the log line of an early death said
// uptime=0s for a worker stopped after failing every health check it had
// for 2.5s: the early verdict was passed as a zero uptime. It now says
// the worker's real uptime, and the death still counts as early.
func TestEarlyDeathLogsTheRealUptime(t *testing.T) {
	var buf bytes.Buffer
	s := spec(1)
	s.HealthCheck = "tcp"
	s.HealthAddress = "127.0.0.1:1"
	s.HealthThreshold = 2
	s.BackoffReset = time.Second // the health checks outlive it: still early
	h := newFakeHost()
	w, err := New(s, Sockets{}, h, hclog.New(&hclog.LoggerOptions{Output: &buf, Level: hclog.Warn}))
	if err != nil {
		t.Fatal(err)
	}
	h.seen, w.spawnWindow = w, 0
	w.Start()
	pid := w.Pids()[0]
	h.now = h.now.Add(2500 * time.Millisecond)
	w.Fire(h.takeTimers(TimerHealth)[0])
	c := h.checks[0]
	w.Checked(c, errors.New("refused"))
	w.Checked(c, errors.New("refused"))
	w.Exited(pid, -15)
	var line string
	for l := range strings.Lines(buf.String()) {
		if strings.Contains(l, "worker ended soon after start") {
			line = l
		}
	}
	if !strings.Contains(line, "uptime=2.5s") {
		t.Fatalf("log line %q, want uptime=2.5s; log:\n%s", line, buf.String())
	}
	if sl := w.Slots(); len(sl) != 1 || sl[0].State != string(HoldBackoff) {
		t.Fatalf("slots %+v, want wid 1 in backoff (an early death)", sl)
	}
}

// An upgrade of poold in place hands over a worker's streak over a limit
// (the uptime it began at) and why poold is stopping one: the new image
// judges the streak as the old would have (a slow leak is not taken for an
// early death), and reaps the worker with its reason code (it was "" for
// every failure handed over).
func TestAdoptedOverLimitStreakKeepsItsVerdict(t *testing.T) {
	w, h := limited(t, 2)
	pids := w.Pids()
	h.now = h.now.Add(2 * time.Second)
	overLimit(w, pids[1]) // young: stopping, an early death on its way
	h.now = h.now.Add(time.Minute)
	w.Sampled(pids[0], 5000, 0) // a leak, seen once
	raw, err := json.Marshal(w.Snapshot(h.now))
	if err != nil {
		t.Fatal(err)
	}
	var st State
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatal(err)
	}
	w2, h2 := newWatcher(t, st.Spec)
	h2.now, h2.nextPid = h.now.Add(time.Second), h.nextPid // its spawns get new pids
	if err := w2.Adopt(st); err != nil {
		t.Fatal(err)
	}
	w2.Exited(pids[1], -15)
	if r := h2.reaps[len(h2.reaps)-1]; r["reason"] != ReasonLimit {
		t.Errorf("reap of the handed-over fat worker %v, want reason %q", r, ReasonLimit)
	}
	w2.Sampled(pids[0], 5000, 0)
	if fmt.Sprint(pidsIn(w2, ProcStopping)) != fmt.Sprint(pids[:1]) || len(pidsIn(w2, ProcReady)) != 1 {
		t.Fatalf("%v, want the leaking worker stopping once its replacement is ready", w2.Processes())
	}
}

// A limit passed by a process the worker started (a gunicorn master's
// worker) replaces the worker, and the reason names that process; the
// other figure, under its limit, is not summed in.
func TestLimitNamesTheProcessTheWorkerStarted(t *testing.T) {
	w, h := limited(t, 1)
	pid := w.Pids()[0]
	h.now = h.now.Add(3 * time.Second)
	for range 2 {
		w.SampledPeak(pid, Sample{RSS: 5000, RSSPid: pid + 1, CPU: 1, CPUPid: pid})
	}
	w.Exited(pid, -15)
	r := h.reaps[len(h.reaps)-1]
	want := fmt.Sprintf("rss 5000 bytes in pid %d, which the worker started, over max_rss 1000", pid+1)
	if reason, _ := r["exit_reason"].(string); r["reason"] != ReasonLimit || !strings.Contains(reason, want) {
		t.Errorf("reap %v, want reason %q and exit_reason naming %q", r, ReasonLimit, want)
	}
}

// r62 L2: a worker replaced for max_rss that then exits 0 on its stop
// signal had an exit event and a slot's last_exit of "exited with
// status 0" alone, as if it had ended on its own; only the recycle
// event, joined by pid, said why. Both now say it was replaced, and
// for what.
func TestReplacedWorkersExitSaysWhy(t *testing.T) {
	w, h := limited(t, 1)
	fat := w.Pids()[0]
	h.now = h.now.Add(time.Minute)
	overLimit(w, fat)
	w.Exited(fat, 0)
	r := h.exits[len(h.exits)-1]
	want := "replaced (rss 5000 bytes over max_rss 1000): exited with status 0"
	if r["exit_reason"] != want || r["reason"] != ReasonExit {
		t.Errorf("exit event %v, want exit_reason %q, reason %q", r, want, ReasonExit)
	}
	if s := w.slots[1]; s == nil || s.lastExit != want {
		t.Errorf("wid 1's slot %+v, want its last exit %q", s, want)
	}
}
