package arbiter

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/proctest"
	"github.com/poold/poold/watcher/workertest"
)

// load keeps clients busy on one address, window by window: run starts
// them with a fresh tally, pause stops them and waits for every request in
// flight, so that each request is counted in exactly one window and a
// verdict is about that window alone.
//
// TestZeroFailedRequestsUnderLoad keeps 16 keep-alive clients busy through a
// rolling reload, a config reload that changes the workers' command, and a
// crash of one worker. Each phase has its own verdict: no request failed
// while it ran, every request started after it was answered by the workers
// it left, and poold kept enough workers ready, let each retired one drain
// and exit 0, and never gave a live worker's wid to another. Between
// phases the load is paused until no request is in flight.
func TestZeroFailedRequestsUnderLoad(t *testing.T) {
	const n = 4
	w := notifyWatcher(n)
	w.MaxSurge = configs.SurgeOf(2)
	cfg := &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{w}}
	var next atomic.Pointer[configs.Config]
	h := start(t, cfg, Options{Load: func() (*configs.Config, error) { return next.Load(), nil }})
	f := newFleet(h, "web", n)
	f.until(t, "all workers ready", f.settled)
	l := newLoad(t, h.socketAddr("web"), 16)

	// phase runs action under load, given the workers serving before it.
	// action returns once poold has done it and its events are read; the
	// fleet then settles on n ready workers, and the workers reaped
	// meanwhile are checked by check.
	phase := func(t *testing.T, action func(t *testing.T, before map[int]bool), check func(t *testing.T, before map[int]bool, rs []reaped)) {
		before := f.ready()
		during := l.run()
		during.waitAnswered(t, 200)
		action(t, before)
		f.until(t, "settled on n ready workers", f.settled)
		l.pause()
		during.check(t, t.Name()+": while it ran")
		check(t, before, f.takeReaped())
		now := f.ready()
		if got := pidSet(h.do("list", map[string]any{"name": "web"})["pids"].([]int)); !maps.Equal(got, now) {
			t.Errorf("list says pids %v, the events say %v", got, now)
		}
		// Every request started from here on must be answered by the
		// workers the phase left.
		after := l.run()
		after.waitAnswered(t, 200)
		l.pause()
		after.check(t, t.Name()+": after it")
		after.answeredOnlyBy(t, t.Name()+": after it", now)
	}
	// reapedAll waits until every worker of before has been reaped.
	reapedAll := func(t *testing.T, before map[int]bool) {
		f.until(t, "the old workers reaped", func() bool {
			for pid := range before {
				if f.live[pid] != nil {
					return false
				}
			}
			return true
		})
	}
	// replacedAll checks a reload: every worker of before was told to stop
	// and nothing else ended.
	replacedAll := func(t *testing.T, before map[int]bool, rs []reaped) {
		for _, r := range rs {
			if !before[r.pid] || !r.stopping {
				t.Errorf("pid %d ended (exit %d, told to stop: %v); only the old workers %v should have", r.pid, r.code, r.stopping, before)
			}
			delete(before, r.pid)
		}
		if len(before) > 0 {
			t.Errorf("old workers %v survived", before)
		}
	}

	t.Run("rolling reload", func(t *testing.T) {
		phase(t, func(t *testing.T, before map[int]bool) {
			h.do("reload", map[string]any{"name": "web", "waiting": true})
			reapedAll(t, before)
		}, replacedAll)
	})

	t.Run("config reload changing cmd", func(t *testing.T) {
		phase(t, func(t *testing.T, before map[int]bool) {
			changed := *cfg
			nw := notifyWatcher(n) // max_surge back to the default, 100%: all at once
			nw.Env = append(nw.Env, "VERSION=2")
			changed.Watchers = []configs.Watcher{nw}
			next.Store(&changed)
			r := h.do("reloadconfig", map[string]any{"waiting": true})
			if u := r["updated"].([]string); len(u) != 1 || u[0] != "web" {
				t.Errorf("reloadconfig reply %v, want web updated", r)
			}
			reapedAll(t, before)
		}, replacedAll)
	})

	t.Run("crash and replace", func(t *testing.T) {
		crashed := 0
		phase(t, func(t *testing.T, _ map[int]bool) {
			body, err := get(h.socketAddr("web"), "/crash")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := fmt.Sscanf(body, "pid=%d crashing", &crashed); err != nil {
				t.Fatalf("crash answer %q: %v", body, err)
			}
			f.until(t, "the crashed worker reaped", func() bool { return f.live[crashed] == nil })
		}, func(t *testing.T, _ map[int]bool, rs []reaped) {
			if len(rs) != 1 || rs[0] != (reaped{pid: crashed, code: 2}) {
				t.Errorf("reaped %+v, want only pid %d, exit 2", rs, crashed)
			}
		})
	})
}

func TestReloadToNeverReadyVersionKeepsOldWorkers(t *testing.T) {
	// The healthy version keeps notifyWatcher's generous ready_timeout: a
	// healthy worker that misses it on a busy machine is churned and
	// replaced, which is not what this test is about. Only the version
	// that never gets ready has a short one.
	w := notifyWatcher(2)
	cfg := &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{w}}
	broken := *cfg
	bw := notifyWatcher(2)
	bw.ReadyTimeout = 500 * time.Millisecond
	bw.Env = []string{workertest.Env + "=never-ready", quickExit}
	broken.Watchers = []configs.Watcher{bw}
	h := start(t, cfg, Options{Load: func() (*configs.Config, error) { return &broken, nil }})
	old := readyPids(t, h, "web", 2)
	l := newLoad(t, h.socketAddr("web"), 8)
	tl := l.run()
	tl.waitAnswered(t, 100)

	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	r := h.a.Do(ctx, Request{ID: "r", Command: "reloadconfig", Properties: map[string]any{"waiting": true}})
	if r["status"] != "error" || r["errno"] != ErrnoAsync || !strings.Contains(r["reason"].(string), "not ready within ready_timeout") {
		t.Errorf("reloadconfig reply %v, want errno 6 naming the ready timeout", r)
	}
	h.next("reload_failed", nil)
	pids := h.do("list", map[string]any{"name": "web"})["pids"].([]int)
	if len(pids) != 2 || !old[pids[0]] || !old[pids[1]] {
		t.Errorf("after the failed reload pids are %v, want the old %v", pids, old)
	}
	if cmdEnv := h.do("options", map[string]any{"name": "web"})["options"].(map[string]any)["env"]; !strings.Contains(fmt.Sprint(cmdEnv), ":notify") {
		t.Errorf("spec not rolled back: env %v", cmdEnv)
	}
	tl.waitAnswered(t, 100)
	l.pause()
	tl.check(t, "failed reload")
	tl.answeredOnlyBy(t, "failed reload", old)
}

func TestSdNotifyWorkerIsReady(t *testing.T) {
	w := notifyWatcher(2)
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{w}}, Options{})
	spawnedReady(t, h, "web", 2) // each spawned worker ready
	r := h.do("stats", map[string]any{"name": "web"})
	for pid, in := range r["info"].(map[string]ProcInfo) {
		if in.State != "ready" {
			t.Errorf("pid %s state %q, want ready", pid, in.State)
		}
	}
	if st := h.do("status", map[string]any{"name": "web"})["status"]; st != "active" {
		t.Errorf("status %v", st)
	}
}

func TestCrashLoopingWorkerGoesFlapping(t *testing.T) {
	w := testWatcher("crashy", "crash", 1)
	w.BackoffMin = time.Millisecond
	w.BackoffMax = 5 * time.Millisecond
	w.FlappingAttempts = 3
	w.FlappingWindow = time.Minute
	w.FlappingRetryIn = time.Hour
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{})
	ev := h.next("flapping", nil)
	if ev.Fields["gave_up"] != false {
		t.Errorf("flapping event %v", ev.Fields)
	}
	r := h.do("status", map[string]any{"name": "crashy"})
	if r["state"] != "flapping" || !strings.Contains(r["reason"].(string), "retrying in 59m") { // what is left of the hour, truncated as the slot table prints it
		t.Errorf("status reply %v", r)
	}
}

func TestLeakingWorkerIsReplaced(t *testing.T) {
	w := testWatcher("leaky", "leak", 1)
	w.Sockets = []string{"web"}
	w.MaxRSS = 64 << 20
	w.LimitThreshold = 2
	// It goes over 64 MiB after some 320 ms of leaking: past this, a slow
	// leak, replaced rolling (a worker over its limit younger than
	// backoff_reset is an early death of its slot instead).
	w.BackoffReset = 100 * time.Millisecond
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{w}}, Options{})
	sampleEvery(t, h, 50*time.Millisecond)
	first := h.next("spawn", nil).Fields["process_pid"]
	ev := h.next("recycle", nil)
	if ev.Fields["process_pid"] != first || !strings.Contains(ev.Fields["reason"].(string), "max_rss") {
		t.Errorf("recycle event %v, want pid %v over max_rss", ev.Fields, first)
	}
	next := h.next("spawn", nil)
	reap := h.next("exit", nil)
	if reap.Fields["process_pid"] != first || next.Seq > reap.Seq {
		t.Errorf("replacement spawned at seq %d, old reaped at %d: want new before old", next.Seq, reap.Seq)
	}
}

func TestDependsOnStartsAfterReadyAndStopsFirst(t *testing.T) {
	db := testWatcher("db", "sleep", 1)
	db.Readiness = "delay"
	db.ReadyDelay = 300 * time.Millisecond
	app := testWatcher("app", "sleep", 1)
	app.DependsOn = []string{"db"}
	app.Priority = 10 // dependencies win over priority
	h := start(t, &configs.Config{Watchers: []configs.Watcher{app, db}}, Options{})
	var order []string
	for len(order) < 3 {
		select {
		case ev := <-h.sub.C():
			if ev.Kind == "spawn" || ev.Kind == "ready" {
				order = append(order, ev.Watcher+"."+string(ev.Kind))
			}
		case <-time.After(hang):
			t.Fatalf("events so far %v", order)
		}
	}
	if strings.Join(order, " ") != "db.spawn db.ready app.spawn" {
		t.Errorf("start order %v, want db ready before app spawns", order)
	}
	h.do("stop", map[string]any{"waiting": true})
	var stops []string
	for len(stops) < 2 {
		stops = append(stops, h.next("stop", nil).Watcher)
	}
	if strings.Join(stops, ",") != "app,db" {
		t.Errorf("stop order %v, want app,db", stops)
	}
}

func TestConfigReloadSwapsSocketsAndWatchers(t *testing.T) {
	old := testWatcher("old", "serve", 1)
	old.Sockets = []string{"a"}
	cfg := &configs.Config{Sockets: []configs.Socket{tcpSocket("a")}, Watchers: []configs.Watcher{old}}
	nw := testWatcher("new", "serve", 1)
	nw.Sockets = []string{"b"}
	next := &configs.Config{Sockets: []configs.Socket{tcpSocket("b")}, Watchers: []configs.Watcher{nw}}
	h := start(t, cfg, Options{Load: func() (*configs.Config, error) { return next, nil }})
	h.spawns(1)
	addrA := h.socketAddr("a")
	proctest.Eventually(t, "old serves on a", func() bool { _, err := get(addrA, "/"); return err == nil })
	h.do("reloadconfig", map[string]any{"waiting": true})
	if ws := h.do("list", nil)["watchers"].([]string); strings.Join(ws, ",") != "new" {
		t.Fatalf("watchers after reload %v", ws)
	}
	addrB := h.socketAddr("b")
	proctest.Eventually(t, "new serves on b", func() bool { _, err := get(addrB, "/"); return err == nil })
	if _, err := get(addrA, "/"); err == nil {
		t.Errorf("socket a still accepts after it left the config")
	}
	socks := h.do("listsockets", nil)["sockets"].([]map[string]any)
	if len(socks) != 1 || socks[0]["name"] != "b" {
		t.Errorf("sockets %v", socks)
	}
}

// TestHTTPReadinessAndHealthCheck runs a worker that answers probes on its
// own port: it becomes ready through readiness "http", and once its health
// URL fails health_threshold times it is replaced, new before old.
func TestHTTPReadinessAndHealthCheck(t *testing.T) {
	// Each worker answers probes on its own port, prefix + wid.
	prefix := probePrefix(t, 2)
	probe := "127.0.0.1:" + prefix + "$(pool.wid)"
	w := testWatcher("web", "probe", 1)
	w.Sockets = []string{"web"}
	w.Env = append(w.Env, "PROBE_ADDR="+probe)
	w.Readiness = "http"
	w.ReadyURL = "http://" + probe + "/health"
	w.ReadyTimeout = 10 * time.Second
	w.HealthCheck = "tcp"
	w.HealthAddress = probe
	w.HealthInterval = 50 * time.Millisecond
	w.HealthTimeout = time.Second
	w.HealthThreshold = 2
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{w}}, Options{})
	first := h.next("spawn", nil).Fields["process_pid"]
	if ready := h.next("ready", nil); ready.Fields["process_pid"] != first {
		t.Fatalf("ready %v, want pid %v", ready.Fields, first)
	}
	// Once it proved healthy, switch to the http health check on the same
	// URL, then make it fail. (A worker that never passed a check is an
	// early death instead: TestNeverHealthyIsAnEarlyDeath.)
	proctest.Eventually(t, "the worker passed a health check", func() bool {
		return strings.Contains(h.log.String(), fmt.Sprintf("worker passed its first health check: watcher=web pid=%v", first))
	})
	h.do("set", map[string]any{"name": "web", "options": map[string]any{"health_check": "http", "health_url": "http://" + probe + "/health"}})
	if _, err := get(h.socketAddr("web"), "/sick"); err != nil {
		t.Fatal(err)
	}
	ev := h.next("unhealthy", nil)
	if ev.Fields["process_pid"] != first || !strings.Contains(ev.Fields["reason"].(string), "503") {
		t.Errorf("unhealthy %v, want pid %v with status 503", ev.Fields, first)
	}
	h.next("recycle", nil)
	// The replacement (wid 2, its own probe port) is ready before the sick one stops.
	next := h.next("spawn", nil)
	ready := h.next("ready", nil)
	if ready.Fields["process_pid"] != next.Fields["process_pid"] || next.Fields["process_id"] != 2 {
		t.Errorf("replacement spawn %v ready %v, want wid 2 ready", next.Fields, ready.Fields)
	}
	if reap := h.next("exit", nil); reap.Fields["process_pid"] != first || reap.Seq < ready.Seq {
		t.Errorf("sick worker reaped at seq %d (%v), replacement ready at %d", reap.Seq, reap.Fields, ready.Seq)
	}
}
