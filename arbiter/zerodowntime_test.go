package arbiter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher/workertest"
)

// load keeps clients busy on addr until stopped, counting answers and
// failures by kind; pids records which worker answered.
type load struct {
	ok     atomic.Int64
	failed atomic.Int64
	mu     sync.Mutex
	errs   map[string]int
	pids   map[string]int
	stop   chan struct{}
	wg     sync.WaitGroup
}

func startLoad(t testing.TB, addr string, clients int) *load {
	l := &load{errs: map[string]int{}, pids: map[string]int{}, stop: make(chan struct{})}
	tr := &http.Transport{MaxIdleConnsPerHost: clients}
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	for i := 0; i < clients; i++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				resp, err := c.Get("http://" + addr + "/")
				if err == nil {
					var body []byte
					body, err = io.ReadAll(resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != 200 {
						err = errors.New(resp.Status)
					}
					if err == nil {
						l.ok.Add(1)
						pid := strings.Fields(string(body))[0]
						l.mu.Lock()
						l.pids[pid]++
						l.mu.Unlock()
						continue
					}
				}
				l.failed.Add(1)
				l.mu.Lock()
				l.errs[err.Error()]++
				l.mu.Unlock()
			}
		}()
	}
	t.Cleanup(func() {
		l.halt()
		tr.CloseIdleConnections()
	})
	return l
}

func (l *load) halt() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

// answersFrom resets the pid tally and waits until answers keep coming.
func (l *load) reset() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.pids
	l.pids = map[string]int{}
	return p
}

func (l *load) check(t testing.TB, during string) {
	t.Helper()
	if n := l.failed.Load(); n > 0 {
		l.mu.Lock()
		defer l.mu.Unlock()
		t.Errorf("%s: %d of %d requests failed: %v", during, n, n+l.ok.Load(), l.errs)
	}
}

// waitAnswered waits until the load has seen n more answers.
func (l *load) waitAnswered(t testing.TB, n int64) {
	t.Helper()
	target := l.ok.Load() + n
	eventually(t, "load answered", func() bool { return l.ok.Load() >= target })
}

func notifyWatcher(n int) configs.Watcher {
	w := testWatcher("web", "notify", n)
	w.Sockets = []string{"web"}
	w.Readiness = "notify"
	w.ReadyTimeout = 10 * time.Second
	w.GracefulTimeout = 10 * time.Second
	return w
}

func readyPids(t testing.TB, h *harness, n int) map[int]bool {
	t.Helper()
	out := map[int]bool{}
	for len(out) < n {
		ev := h.next("ready", nil)
		out[ev.Fields["process_pid"].(int)] = true
	}
	return out
}

func TestZeroFailedRequestsUnderLoad(t *testing.T) {
	w := notifyWatcher(4)
	w.MaxSurge = 2
	cfg := &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{w}}
	var next atomic.Pointer[configs.Config]
	h := start(t, cfg, Options{Load: func() (*configs.Config, error) { return next.Load(), nil }})
	readyPids(t, h, 4)
	addr := h.socketAddr("web")
	l := startLoad(t, addr, 16)
	l.waitAnswered(t, 200)

	t.Run("rolling reload", func(t *testing.T) {
		before := h.do("list", map[string]any{"name": "web"})["pids"].([]int)
		h.do("reload", map[string]any{"name": "web", "waiting": true})
		after := h.do("list", map[string]any{"name": "web"})["pids"].([]int)
		if len(after) != 4 {
			t.Fatalf("after reload: pids %v", after)
		}
		for _, a := range after {
			for _, b := range before {
				if a == b {
					t.Errorf("pid %d survived the reload", a)
				}
			}
		}
		l.waitAnswered(t, 200)
		l.check(t, "rolling reload")
	})

	t.Run("config reload changing cmd", func(t *testing.T) {
		changed := *cfg
		nw := notifyWatcher(4)
		nw.Env = append(nw.Env, "VERSION=2")
		changed.Watchers = []configs.Watcher{nw}
		next.Store(&changed)
		before := h.do("list", map[string]any{"name": "web"})["pids"].([]int)
		h.do("reloadconfig", map[string]any{"waiting": true})
		after := h.do("list", map[string]any{"name": "web"})["pids"].([]int)
		for _, a := range after {
			for _, b := range before {
				if a == b {
					t.Errorf("pid %d kept its old cmd", a)
				}
			}
		}
		l.waitAnswered(t, 200)
		l.check(t, "config reload")
	})

	t.Run("crash and replace", func(t *testing.T) {
		body, err := get(addr, "/crash")
		if err != nil {
			t.Fatal(err)
		}
		reap := h.next("reap", func(ev events.Event) bool { return ev.Fields["exit_code"] == 2 })
		h.next("ready", func(ev events.Event) bool { return ev.Fields["process_id"] == reap.Fields["process_id"] })
		l.waitAnswered(t, 200)
		l.check(t, "crash of "+strings.TrimSpace(body))
	})
	l.halt()
	l.check(t, "whole run")
	t.Logf("%d requests answered", l.ok.Load())
}

func TestReloadToNeverReadyVersionKeepsOldWorkers(t *testing.T) {
	w := notifyWatcher(2)
	w.ReadyTimeout = 500 * time.Millisecond
	cfg := &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{w}}
	broken := *cfg
	bw := notifyWatcher(2)
	bw.ReadyTimeout = 500 * time.Millisecond
	bw.Env = []string{workertest.Env + "=never-ready"}
	broken.Watchers = []configs.Watcher{bw}
	h := start(t, cfg, Options{Load: func() (*configs.Config, error) { return &broken, nil }})
	old := readyPids(t, h, 2)
	l := startLoad(t, h.socketAddr("web"), 8)
	l.waitAnswered(t, 100)

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
	if cmdEnv := h.do("options", map[string]any{"name": "web"})["options"].(map[string]any)["env"]; !strings.Contains(strings.Join(cmdEnv.([]string), " "), "=notify") {
		t.Errorf("spec not rolled back: env %v", cmdEnv)
	}
	l.waitAnswered(t, 100)
	l.halt()
	l.check(t, "failed reload")
	for pid := range l.reset() {
		ok := false
		for o := range old {
			if pid == "pid="+itoa(o) {
				ok = true
			}
		}
		if !ok {
			t.Errorf("a request was answered by %s, not an old worker", pid)
		}
	}
}

func TestSdNotifyWorkerIsReady(t *testing.T) {
	w := notifyWatcher(2)
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{w}}, Options{})
	spawned := h.spawns(2)
	ready := readyPids(t, h, 2)
	for pid := range spawned {
		if !ready[pid] {
			t.Errorf("pid %d never ready (ready: %v)", pid, ready)
		}
	}
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
	if r["status"] != "flapping" || !strings.Contains(r["reason"].(string), "retrying in 1h0m0s") {
		t.Errorf("status reply %v", r)
	}
}

func TestLeakingWorkerIsReplaced(t *testing.T) {
	w := testWatcher("leaky", "leak", 1)
	w.Sockets = []string{"web"}
	w.MaxRSS = 64 << 20
	w.LimitThreshold = 2
	stats := events.NewBus(nil)
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{w}}, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = h.a.RunStats(ctx, 50*time.Millisecond, stats)
	}()
	defer func() { cancel(); <-done }()
	first := h.next("spawn", nil).Fields["process_pid"]
	ev := h.next("recycle", nil)
	if ev.Fields["process_pid"] != first || !strings.Contains(ev.Fields["reason"].(string), "max_rss") {
		t.Errorf("recycle event %v, want pid %v over max_rss", ev.Fields, first)
	}
	next := h.next("spawn", nil)
	reap := h.next("reap", nil)
	if reap.Fields["process_pid"] != first || next.Seq > reap.Seq {
		t.Errorf("replacement spawned at seq %d, old reaped at %d: want new before old", next.Seq, reap.Seq)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

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
	eventually(t, "old serves on a", func() bool { _, err := get(addrA, "/"); return err == nil })
	h.do("reloadconfig", map[string]any{"waiting": true})
	if ws := h.do("list", nil)["watchers"].([]string); strings.Join(ws, ",") != "new" {
		t.Fatalf("watchers after reload %v", ws)
	}
	addrB := h.socketAddr("b")
	eventually(t, "new serves on b", func() bool { _, err := get(addrB, "/"); return err == nil })
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
	// Each worker answers probes on its own port, prefix + wid: find a
	// prefix whose ports for wids 1 and 2 are free.
	prefix := ""
	for p := 2000; p < 6500 && prefix == ""; p += 37 {
		free := true
		for wid := 1; wid <= 2; wid++ {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d%d", p, wid))
			if err != nil {
				free = false
				break
			}
			l.Close()
		}
		if free {
			prefix = strconv.Itoa(p)
		}
	}
	if prefix == "" {
		t.Fatal("no free pair of loopback ports for the probes")
	}
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
	// Switch to the http health check on the same URL, then make it fail.
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
	if reap := h.next("reap", nil); reap.Fields["process_pid"] != first || reap.Seq < ready.Seq {
		t.Errorf("sick worker reaped at seq %d (%v), replacement ready at %d", reap.Seq, reap.Fields, ready.Seq)
	}
}
