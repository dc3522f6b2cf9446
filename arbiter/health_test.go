package arbiter

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher"
	"github.com/poold/poold/watcher/proctest"
)

func TestNotReady(t *testing.T) {
	auto := configs.DefaultWatcher("web")
	manual := configs.DefaultWatcher("batch")
	manual.Autostart = false
	side := configs.DefaultWatcher("side")
	side.ReadinessOptional = true
	elastic := configs.DefaultWatcher("web")
	elastic.MinWorkers, elastic.MaxWorkers = 1, 4
	notify := configs.DefaultWatcher("never")
	notify.Readiness, notify.ReadyTimeout = "notify", 20*time.Second
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ready := watcher.Process{State: watcher.ProcReady}
	starting := watcher.Process{State: watcher.ProcStarting}
	tests := []struct {
		name string
		snap Snapshot
		want []string
	}{
		{"all ready", Snapshot{Watchers: []WatcherSnapshot{
			{Name: "web", Status: watcher.Active, Target: 2, Spec: auto, Processes: []watcher.Process{ready, ready}},
		}}, nil},
		{"rolling reload: old and new", Snapshot{Watchers: []WatcherSnapshot{
			{Name: "web", Status: watcher.Active, Target: 2, Spec: auto, Processes: []watcher.Process{ready, ready, starting}},
		}}, nil},
		{"a worker short", Snapshot{Watchers: []WatcherSnapshot{
			{Name: "web", Status: watcher.Active, Target: 2, Spec: auto, Processes: []watcher.Process{ready, starting}},
		}}, []string{`watcher "web" has 1 of 2 workers ready`}},
		{"elastic pool growing: its min_workers are ready", Snapshot{Watchers: []WatcherSnapshot{
			{Name: "web", Status: watcher.Active, Target: 3, Spec: elastic, Size: watcher.Size{Elastic: true, Min: 1, Max: 4},
				Processes: []watcher.Process{ready, starting, starting}},
		}}, nil},
		{"elastic pool below its min_workers", Snapshot{Watchers: []WatcherSnapshot{
			{Name: "web", Status: watcher.Active, Target: 3, Spec: elastic, Size: watcher.Size{Elastic: true, Min: 2, Max: 4},
				Processes: []watcher.Process{ready, starting, starting}},
		}}, []string{`watcher "web" has 1 of 3 workers ready, fewer than its min_workers 2`}},
		{"flapping", Snapshot{Watchers: []WatcherSnapshot{
			{Name: "web", Status: watcher.Flapping, Reason: "wid 1 is flapping", Target: 1, Spec: auto, Processes: []watcher.Process{}},
		}}, []string{`watcher "web" is flapping: wid 1 is flapping`}},
		{"autostart off, never started, is ignored", Snapshot{
			Sockets: []SocketSnapshot{{Name: "batch", Address: "127.0.0.1:8080"}},
			Watchers: []WatcherSnapshot{
				{Name: "batch", Status: watcher.Stopped, Resting: true, Target: 1, Spec: manual, Sockets: []string{"batch"}},
			}}, nil},
		{"autostart off, started: counts", Snapshot{Watchers: []WatcherSnapshot{
			{Name: "batch", Status: watcher.Flapping, Reason: "wid 1 is flapping", Started: true, Target: 1, Spec: manual},
		}}, []string{`watcher "batch" is flapping: wid 1 is flapping`}},
		{"autostart off, its start waiting for a dependency: counts", Snapshot{Watchers: []WatcherSnapshot{
			{Name: "batch", Status: watcher.Stopped, Reason: "waiting to start", Target: 1, Spec: manual},
		}}, []string{`watcher "batch" is stopped: waiting to start`}},
		{"autostart off, started then stopped on its own socket", Snapshot{
			Sockets: []SocketSnapshot{{Name: "batch", Address: "127.0.0.1:8080"}},
			Watchers: []WatcherSnapshot{
				{Name: "web", Status: watcher.Active, Target: 1, Spec: auto, Processes: []watcher.Process{ready}},
				{Name: "batch", Status: watcher.Stopped, Resting: true, Started: true, Target: 1, Spec: manual, Sockets: []string{"batch"}},
			}}, []string{`watcher "batch" is stopped on purpose, and nothing else serves its socket "batch" (127.0.0.1:8080), which poold keeps open: ` +
			"connections there wait unanswered; run `start batch`, or move the socket to a running watcher"}},
		{"stopping", Snapshot{Stopping: true}, []string{"poold is shutting down"}},
		{"at rest on purpose is ignored", Snapshot{Watchers: []WatcherSnapshot{
			{Name: "web", Status: watcher.Active, Target: 1, Spec: auto, Processes: []watcher.Process{ready}},
			{Name: "cron", Status: watcher.Stopped, Resting: true, Target: 2, Spec: auto},
		}}, nil},
		{"every watcher at rest: nothing runs", Snapshot{Watchers: []WatcherSnapshot{
			{Name: "web", Status: watcher.Stopped, Resting: true, Target: 2, Spec: auto},
			{Name: "side", Status: watcher.Active, Target: 1, Spec: side, Processes: []watcher.Process{ready}},
		}}, []string{`no watcher that counts for readiness runs: "web" is stopped on purpose; start one (poolctl start NAME)`}},
		{"at rest with a socket nobody else serves", Snapshot{
			Sockets: []SocketSnapshot{{Name: "web", Address: "127.0.0.1:8080"}},
			Watchers: []WatcherSnapshot{
				{Name: "web", Status: watcher.Stopping, Resting: true, Target: 2, Spec: auto, Sockets: []string{"web"}},
				{Name: "cron", Status: watcher.Active, Target: 1, Spec: auto, Processes: []watcher.Process{ready}},
				{Name: "side", Status: watcher.Flapping, Target: 1, Spec: side, Sockets: []string{"web"}},
			}}, []string{`watcher "web" is stopping on purpose, and nothing else serves its socket "web" (127.0.0.1:8080), which poold keeps open: ` +
			"connections there wait unanswered; run `start web`, or move the socket to a running watcher"}},
		{"at rest with a socket another pool serves", Snapshot{
			Sockets: []SocketSnapshot{{Name: "web", Address: "127.0.0.1:8080"}},
			Watchers: []WatcherSnapshot{
				{Name: "blue", Status: watcher.Stopped, Resting: true, Target: 2, Spec: auto, Sockets: []string{"web"}},
				{Name: "green", Status: watcher.Active, Target: 1, Spec: auto, Processes: []watcher.Process{ready}, Sockets: []string{"web"}},
			}}, nil},
		{"a one-shot that failed", Snapshot{Watchers: []WatcherSnapshot{
			{Name: "web", Status: watcher.Active, Target: 1, Spec: auto, Processes: []watcher.Process{ready}},
			{Name: "migrate", Status: watcher.Stopped, Resting: true, Target: 1, Spec: auto,
				Slots: []watcher.SlotInfo{{Wid: 1, State: "exited", LastExit: "exited with status 3", Failed: true}}},
		}}, []string{`watcher "migrate" failed: wid 1 exited with status 3, with respawn off and a status neither 0 nor listed in no_respawn_exit_codes; ` +
			"fix the cause, then run `start migrate` (or list the status in no_respawn_exit_codes if it means success; `stop migrate` leaves it at rest)"}},
		{"not required is ignored", Snapshot{Watchers: []WatcherSnapshot{
			{Name: "side", Status: watcher.Flapping, Reason: "wid 1 is flapping", Target: 1, Spec: side},
		}}, nil},
		{"slots exited as configured are not short", Snapshot{Watchers: []WatcherSnapshot{
			{Name: "web", Status: watcher.Active, Target: 3, Spec: auto, Processes: []watcher.Process{ready},
				Slots: []watcher.SlotInfo{{Wid: 1, State: "ready", Pid: 10}, {Wid: 2, State: "exited"}, {Wid: 3, State: "exited"}}},
		}}, nil},
		// r55 container review: STATUS= said a watcher "is starting" or
		// "has 0 of 1 workers ready" for all of its ready_timeout, and
		// never what it waited for, which only the log had.
		{"starting: what its worker waits for", Snapshot{Taken: t0.Add(12500 * time.Millisecond), Watchers: []WatcherSnapshot{
			{Name: "never", Status: watcher.Starting, Target: 1, Spec: notify,
				Processes: []watcher.Process{{Pid: 40, Wid: 1, State: watcher.ProcStarting, Started: t0}}},
		}}, []string{`watcher "never" is starting; worker 1 (pid 40) is not ready after 12s of ready_timeout 20s (readiness notify)`}},
		{"a worker short: its slot's last failure", Snapshot{Taken: t0.Add(3 * time.Second), Watchers: []WatcherSnapshot{
			{Name: "never", Status: watcher.Active, Target: 1, Spec: notify,
				Processes: []watcher.Process{{Pid: 41, Wid: 1, State: watcher.ProcStarting, Started: t0}},
				Slots:     []watcher.SlotInfo{{Wid: 1, State: "starting", Pid: 41, LastExit: "not ready within ready_timeout 20s (readiness notify)"}}},
		}}, []string{`watcher "never" has 0 of 1 workers ready; worker 1 (pid 41) is not ready after 3s of ready_timeout 20s (readiness notify); ` +
			`its slot's last worker: not ready within ready_timeout 20s (readiness notify)`}},
		{"a worker short: a slot in backoff", Snapshot{Watchers: []WatcherSnapshot{
			{Name: "web", Status: watcher.Active, Target: 2, Spec: auto, Processes: []watcher.Process{ready},
				Slots: []watcher.SlotInfo{{Wid: 1, State: "ready", Pid: 10}, {Wid: 2, State: "backoff", LastExit: "exited with status 1"}}},
		}}, []string{`watcher "web" has 1 of 2 workers ready; slot 2 (backoff) has no worker, its last one: exited with status 1`}},
		{"an exited slot and a worker short", Snapshot{Watchers: []WatcherSnapshot{
			{Name: "web", Status: watcher.Active, Target: 3, Spec: auto, Processes: []watcher.Process{ready, starting},
				Slots: []watcher.SlotInfo{{Wid: 1, State: "ready", Pid: 10}, {Wid: 2, State: "starting", Pid: 11}, {Wid: 3, State: "exited"}}},
		}}, []string{`watcher "web" has 1 of 2 workers ready (1 more exited as configured and are not replaced)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NotReady(tt.snap); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("NotReady = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestHealthAndReloadState drives a real arbiter: it answers Ping, becomes
// ready once its workers are, records a refused reload and a good one,
// and calls OnSettled once a reload has settled.
func TestHealthAndReloadState(t *testing.T) {
	cfg := &configs.Config{Watchers: []configs.Watcher{testWatcher("web", "sleep", 2)}}
	var bad atomic.Bool
	load := func() (*configs.Config, error) {
		if bad.Load() {
			return nil, errors.New("configs: poold.toml: broken on purpose")
		}
		c := *cfg
		c.Arbiter = configs.DefaultArbiter()
		return &c, nil
	}
	h := start(t, cfg, Options{Load: load})
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	if err := h.a.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	proctest.Eventually(t, "ready", func() bool {
		s, err := h.a.Snapshot(ctx)
		return err == nil && len(NotReady(s)) == 0
	})

	bad.Store(true)
	if r := h.a.Do(ctx, Request{Command: "reloadconfig", Properties: map[string]any{"waiting": true}}); r["status"] != "error" {
		t.Fatalf("bad reload replied %v", r)
	}
	s, _ := h.a.Snapshot(ctx)
	if s.Config.LastReloadOK || s.Config.LastError == "" {
		t.Errorf("after a refused reload: %+v", s.Config)
	}
	bad.Store(false)
	h.do("reloadconfig", map[string]any{"waiting": true})
	s2, _ := h.a.Snapshot(ctx)
	if !s2.Config.LastReloadOK || s2.Config.LastError != "" || !s2.Config.LastSuccess.After(s.Config.LastSuccess) {
		t.Errorf("after a good reload: %+v (before %+v)", s2.Config, s.Config)
	}

	settled := make(chan bool, 1)
	h.do("reload", nil)
	if !h.a.OnSettled(ctx, "WEB", func(_ time.Time, already bool) { settled <- already }) {
		t.Fatal("OnSettled: no watcher WEB")
	}
	select {
	case <-settled:
	case <-time.After(hang):
		t.Fatal("reload never settled")
	}
	if h.a.OnSettled(ctx, "nope", func(time.Time, bool) {}) {
		t.Error("OnSettled found a watcher that does not exist")
	}
}

// TestEventsSinceReplaysABurstWithoutGap asks events_since from a seq in
// the middle of a burst of events while the burst goes on, and pages
// until it has caught up: every seq from there on, once.
func TestEventsSinceReplaysABurstWithoutGap(t *testing.T) {
	bus := events.NewBus(nil)
	bus.KeepHistory(4000)
	h := start(t, &configs.Config{}, Options{Events: bus})
	done := make(chan struct{})
	var published []uint64 // the burst's seqs; read after done
	go func() {
		defer close(done)
		for i := 0; i < 3000; i++ {
			published = append(published, bus.Publish("burst", events.KindUpdated, map[string]any{"i": i}).Seq)
		}
	}()
	proctest.Eventually(t, "burst half way", func() bool { return bus.Since(^uint64(0), 1).Through > 1500 })
	from := uint64(1000)
	last := from
	var got []uint64
	for {
		r := h.do("events_since", map[string]any{"seq": int(last), "limit": 700, "topics": []any{"watcher.burst."}})
		if r["complete"] != true {
			t.Fatalf("incomplete replay: %v", r["oldest"])
		}
		for _, e := range r["events"].([]map[string]any) {
			got = append(got, e["event"].(map[string]any)["seq"].(uint64))
		}
		last = r["through"].(uint64)
		select {
		case <-done:
			if r["more"] == false && last == bus.Since(^uint64(0), 1).Through {
				// The arbiter's own events (arbiter.start) share the
				// bus and may fall inside the burst: compare with the
				// burst's own seqs, not with a consecutive run.
				var want []uint64
				for _, s := range published {
					if s > from {
						want = append(want, s)
					}
				}
				if !slices.Equal(got, want) {
					t.Fatalf("replayed %d events (%v...), want the burst's %d after seq %d (%v...)", len(got), got[:min(5, len(got))], len(want), from, want[:min(5, len(want))])
				}
				return
			}
		default:
		}
	}
}

func TestEventsSinceRefusesBadProperties(t *testing.T) {
	h := start(t, &configs.Config{}, Options{})
	ctx := context.Background()
	for _, props := range []map[string]any{{}, {"seq": -1}, {"seq": 1, "limit": 0}, {"seq": 1, "topics": []any{3}}} {
		r := h.a.Do(ctx, Request{Command: "events_since", Properties: props})
		if r["status"] != "error" || r["errno"] != ErrnoBadProperty {
			t.Errorf("events_since %v: %v", props, r)
		}
	}
}

// A reload that applied but rolled a watcher back is not successful, and
// its reply keeps what was applied and what was rolled back.
func TestRolledBackReloadIsNotSuccessful(t *testing.T) {
	// The new version exits before it says READY=1, however slowly it
	// starts: no timing decides the outcome.
	a := notifyWatcherNamed("a", 1)
	next := a
	next.Env = []string{"POOLD_TEST_WORKER=crash"}
	socks := []configs.Socket{tcpSocket("web")}
	h := start(t, &configs.Config{Sockets: socks, Watchers: []configs.Watcher{a}}, Options{Load: func() (*configs.Config, error) {
		return &configs.Config{Arbiter: configs.DefaultArbiter(), Sockets: socks, Watchers: []configs.Watcher{next}}, nil
	}})
	h.next("ready", nil)
	r := h.a.Do(context.Background(), Request{Command: "reloadconfig", Properties: map[string]any{"waiting": true}})
	if rb, _ := r["rolled_back"].(map[string]any); rb["a"] == nil {
		t.Fatalf("reply %v: want a rolled back", r)
	}
	s, _ := h.a.Snapshot(context.Background())
	if s.Config.LastReloadOK || !strings.Contains(s.Config.LastError, `watcher "a" rolled back`) {
		t.Errorf("config state after a rollback: %+v", s.Config)
	}
}

// TestAnOlderReloadEndingLastDoesNotHideALaterRefusal: reload A rolls a
// watcher whose old worker takes its graceful_timeout to stop; reload B,
// asked for meanwhile, is refused at once (a typo). A's outcome came
// last and set poold_config_last_reload_successful back to 1, clearing
// the error, with the refused file on disk not in force. The outcome of
// the reload asked for last stands.
func TestAnOlderReloadEndingLastDoesNotHideALaterRefusal(t *testing.T) {
	h := start(t, &configs.Config{}, Options{})
	broken := errors.New("configs: poold.toml: line 3: unknown key")
	got := onLoop(t, h.a, func() any {
		var replies []error
		note := func(o reloadOutcome, err error) { replies = append(replies, err) }
		a, b := h.a.recordReload(note), h.a.recordReload(note)
		b(reloadOutcome{}, broken)
		a(reloadOutcome{}, nil)
		return [2]any{h.a.config, len(replies)}
	}).([2]any)
	cs, n := got[0].(ConfigState), got[1].(int)
	if cs.LastReloadOK || cs.LastError != broken.Error() || n != 2 {
		t.Errorf("after a refused reload, then an older one's success: %+v (%d replies); want the refusal kept", cs, n)
	}
}
