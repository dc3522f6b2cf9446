package arbiter

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher/proctest"
)

// probePrefix finds a port prefix P such that 127.0.0.1:P<wid> is free for
// every wid in 1..n: the README's per-wid probe port recipe. It starts at
// a random prefix so that test binaries run side by side (several
// packages, several checkouts) do not race for the same ports.
func probePrefix(t testing.TB, n int) string {
	t.Helper()
	start := 2000 + rand.IntN(100)
	for i := range 120 {
		p := 2000 + (start-2000+i*37)%4500
		free := true
		for wid := 1; wid <= n && free; wid++ {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d%d", p, wid))
			if err != nil {
				free = false
				continue
			}
			l.Close()
		}
		if free {
			return strconv.Itoa(p)
		}
	}
	t.Fatal("no free loopback ports for per-wid probes")
	return ""
}

// notifyWatcherNamed serves on socket "web" and reports readiness with
// READY=1.
func notifyWatcherNamed(name string, n int) configs.Watcher {
	w := testWatcher(name, "notify", n)
	w.Sockets = []string{"web"}
	w.Readiness = "notify"
	return w
}

// liveWids follows spawn and reap events and fails the test when a spawn
// takes a wid a live process of the watcher still holds.
type liveWids struct {
	t    testing.TB
	live map[int]int // pid -> wid
}

func (l *liveWids) see(ev events.Event) {
	l.t.Helper()
	pid, _ := ev.Fields["process_pid"].(int)
	wid, _ := ev.Fields["process_id"].(int)
	switch ev.Kind {
	case "spawn":
		for p, w := range l.live {
			if w == wid {
				l.t.Fatalf("pid %d spawned with wid %d, still held by live pid %d", pid, wid, p)
			}
		}
		l.live[pid] = wid
	case "exit": // every exit (reap only where circusd has one)
		delete(l.live, pid)
	}
}

// Defect 1: a rolling reload gave a new worker the wid of a draining old
// one, so a per-wid readiness probe was answered by the old process.
func TestRollingReloadNeverReusesADrainingWorkersWid(t *testing.T) {
	const n = 3
	for _, surge := range []configs.Surge{configs.SurgeOf(1), configs.DefaultMaxSurge()} {
		t.Run("max_surge="+surge.String(), func(t *testing.T) { reloadKeepsWidsApart(t, n, surge) })
	}
}

func reloadKeepsWidsApart(t *testing.T, n int, surge configs.Surge) {
	top := n + surge.Of(n)
	prefix := probePrefix(t, top)
	probe := "127.0.0.1:" + prefix + "$(pool.wid)"
	w := testWatcher("web", "probe", n)
	w.MaxSurge = surge
	w.Sockets = []string{"web"}
	w.Env = append(w.Env, "PROBE_ADDR="+probe)
	w.Readiness = "tcp"
	w.ReadyAddress = probe
	w.ReadyTimeout = 10 * time.Second
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{w}}, Options{})
	lw := &liveWids{t: t, live: map[int]int{}}
	for ready := 0; ready < n; {
		ev := h.next("", nil)
		lw.see(ev)
		if ev.Kind == "ready" {
			ready++
		}
	}
	done := doAsync(h, "reload", map[string]any{"name": "web", "waiting": true})
	for reaped := 0; reaped < n; {
		ev := h.next("", nil)
		lw.see(ev)
		if ev.Kind == "exit" {
			reaped++
		}
	}
	if r := <-done; r["status"] != "ok" {
		t.Fatalf("reload: %v", r)
	}
	for _, wid := range lw.live {
		if wid < 1 || wid > top {
			t.Errorf("wid %d outside 1..numprocesses+max_surge (%d)", wid, top)
		}
	}
}

// Defect 2: a reload to a command that cannot start stopped every healthy
// worker and started none. The program is deleted or loses its x bit under
// running workers, then a reload must keep them serving.
func TestReloadToUnstartableCommandKeepsOldWorkers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		break_ func(path string) error
	}{
		{"deleted", os.Remove},
		{"chmod -x", func(path string) error { return os.Chmod(path, 0o644) }},
	} {
		for _, readiness := range []string{"spawn", "notify"} {
			t.Run(tc.name+"/"+readiness, func(t *testing.T) {
				bin := copyTestBinary(t)
				mode := map[string]string{"spawn": "serve", "notify": "notify"}[readiness]
				w := testWatcher("web", mode, 2)
				w.Cmd = bin
				w.Sockets = []string{"web"}
				w.Readiness = readiness
				h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{w}}, Options{})
				pids := readyPids(t, h, "web", 2)
				// Readiness spawn counts a worker ready at fork; wait until
				// both run the program before it is taken away.
				answered := map[string]bool{}
				addr := h.socketAddr("web")
				proctest.Eventually(t, "both workers answer", func() bool {
					if body, err := get(addr, "/"); err == nil && strings.HasPrefix(body, "pid=") {
						answered[strings.Fields(body)[0]] = true
					}
					return len(answered) == 2
				})
				if err := tc.break_(bin); err != nil {
					t.Fatal(err)
				}
				r := h.a.Do(context.Background(), Request{ID: "r", Command: "reload", Properties: map[string]any{"name": "web", "waiting": true}})
				if r["status"] != "error" || r["errno"] != ErrnoAsync || !strings.Contains(fmt.Sprint(r["reason"]), bin) {
					t.Fatalf("reload replied %v, want errno 6 naming %s", r, bin)
				}
				checkStillServing(t, h, pids)
			})
		}
	}
}

// A config naming a program that is not there is refused before anything
// changes, like poold --check.
func TestReloadConfigToMissingProgramChangesNothing(t *testing.T) {
	w := testWatcher("web", "serve", 2)
	w.Sockets = []string{"web"}
	cfg := &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{w}}
	missing := filepath.Join(t.TempDir(), "deleted")
	h := start(t, cfg, Options{Load: func() (*configs.Config, error) {
		c := *cfg
		nw := w
		nw.Cmd = missing
		c.Watchers = []configs.Watcher{nw}
		return &c, nil
	}})
	pids := readyPids(t, h, "web", 2)
	r := h.a.Do(context.Background(), Request{ID: "r", Command: "reloadconfig", Properties: map[string]any{"waiting": true}})
	reason := fmt.Sprint(r["reason"])
	if r["errno"] != ErrnoAsync || !strings.Contains(reason, "watchers.web.cmd") || !strings.Contains(reason, missing) || !strings.Contains(reason, "nothing was changed") {
		t.Fatalf("reloadconfig replied %v", r)
	}
	checkStillServing(t, h, pids)
}

// copyTestBinary copies this test binary (it plays the workers) to a
// file the test may delete or chmod.
func copyTestBinary(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "worker")
	if err := os.WriteFile(path, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// checkStillServing fails unless watcher web is active with exactly the
// workers pids, which answer on socket web.
func checkStillServing(t testing.TB, h *harness, pids map[int]bool) {
	t.Helper()
	st := h.do("status", map[string]any{"name": "web"})
	now := h.do("list", map[string]any{"name": "web"})["pids"].([]int)
	if st["status"] != "active" || len(now) != len(pids) || !pids[now[0]] || !pids[now[len(now)-1]] {
		t.Fatalf("status %v, pids %v, were %v", st, now, pids)
	}
	for i := 0; i < 4; i++ {
		body, err := get(h.socketAddr("web"), "/")
		if err != nil || !strings.HasPrefix(body, "pid=") {
			t.Fatalf("old workers not serving: %q %v", body, err)
		}
	}
}

// Defect 3: ordinary deaths of long-lived workers were treated as a crash
// loop. Every death here is of a worker older than backoff_reset.
func TestKilledLongLivedWorkersAreReplacedAtOnce(t *testing.T) {
	w := testWatcher("web", "sleep", 5)
	w.BackoffReset = time.Microsecond // every worker is long-lived by the time it is killed
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{})
	spawned := h.spawns(5)
	for pid := range spawned {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
	// The new workers' spawns and readiness (once each has run a moment)
	// interleave: a replacement can be ready before the last one spawns,
	// so both are read in one pass.
	replaced, fresh, ready := map[int]bool{}, map[int]bool{}, map[int]bool{}
	for len(replaced) < 5 || len(ready) < 5 {
		ev := h.next("", func(ev events.Event) bool {
			return ev.Kind == "spawn" || ev.Kind == "backoff" || ev.Kind == "flapping" || ev.Kind == "ready"
		})
		pid, _ := ev.Fields["process_pid"].(int)
		switch ev.Kind {
		case "spawn":
			replaced[ev.Fields["process_id"].(int)] = true
			fresh[pid] = true
		case "ready":
			if fresh[pid] {
				ready[pid] = true
			}
		default:
			t.Fatalf("%s after kill -9 of long-lived workers: %v", ev.Kind, ev.Fields)
		}
	}
	if st := h.do("status", map[string]any{"name": "web"}); st["status"] != "active" {
		t.Errorf("status %v", st)
	}
}

// Defect 4: a crash loop never ended visibly; spawn errors never counted.
func TestCrashLoopEndsInFailedStatus(t *testing.T) {
	for _, tc := range []struct{ name, cmd, why string }{
		{"exits at once", "", "exited with status 3"},
		{"cannot be spawned", "/nonexistent/poold-test-worker", "spawn error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := testWatcher("crashy", "crash", 1)
			if tc.cmd != "" {
				w.Cmd = tc.cmd
			}
			w.BackoffMin, w.BackoffMax = time.Millisecond, 2*time.Millisecond
			w.FlappingAttempts, w.FlappingRetryIn, w.FlappingMaxRetry = 3, 10*time.Millisecond, 2
			h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{})
			ev := h.next("failed", nil)
			if ev.Fields["process_id"] != 1 || !strings.Contains(fmt.Sprint(ev.Fields["reason"]), tc.why) {
				t.Errorf("failed event %v", ev.Fields)
			}
			st := h.do("status", map[string]any{"name": "crashy"})
			reason := fmt.Sprint(st["reason"])
			if st["state"] != "failed" || !strings.Contains(reason, "wid 1 failed") || !strings.Contains(reason, tc.why) || !strings.Contains(reason, "start crashy") {
				t.Fatalf("status %v", st)
			}
			slots := st["slots"].([]map[string]any)
			if len(slots) != 1 || slots[0]["state"] != "failed" {
				t.Errorf("slots %v", slots)
			}
			all := h.do("status", nil)
			if all["states"].(map[string]any)["crashy"] != "failed" || all["reasons"].(map[string]any)["crashy"] != reason {
				t.Errorf("status without name: %v", all)
			}
		})
	}
}

// Defect 5: timers and checks were routed by name, so after rm and add
// of the same name the removed watcher's health checks ran on the new one.
func TestRmThenAddDoesNotDoubleHealthChecks(t *testing.T) {
	log := filepath.Join(t.TempDir(), "probes")
	const interval = 200 * time.Millisecond
	opts := map[string]any{
		"numprocesses": 1, "env": []any{"POOLD_TEST_WORKER=sleep", quickExit},
		"health_check": "exec", "health_cmd": "sh -c 'date +%s%N >> " + log + "'",
		"health_interval": interval.Seconds(),
	}
	h := start(t, &configs.Config{}, Options{})
	add := func() {
		h.do("add", map[string]any{"name": "hc", "cmd": os.Args[0], "options": opts, "start": true, "waiting": true})
	}
	add()
	h.next("spawn", nil)
	h.do("rm", map[string]any{"name": "hc", "waiting": true})
	if err := os.Remove(log); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	add()
	var stamps []int64
	proctest.Eventually(t, "12 health checks after add", func() bool {
		b, _ := os.ReadFile(log)
		stamps = stamps[:0]
		for _, f := range strings.Fields(string(b)) {
			n, _ := strconv.ParseInt(f, 10, 64)
			stamps = append(stamps, n)
		}
		return len(stamps) >= 12
	})
	// The stamps are taken by the probe's shell, whose start-up a loaded
	// machine delays by a varying amount, so single gaps say little. The
	// span does: one timer chain needs at least (n-1) intervals for n
	// checks, less the delay of the first one; two chains need half that.
	slices.Sort(stamps)
	n := len(stamps)
	span := time.Duration(stamps[n-1] - stamps[0])
	if least := time.Duration(n-1) * interval * 3 / 4; span < least {
		t.Errorf("%d health checks within %v, want at least %v for one timer chain: two timer chains run", n, span, least)
	}
}

// Defect 6: reloadconfig said "nothing was changed" while one watcher was
// rolled over and another rolled back.
func TestReloadConfigReportsEachWatcher(t *testing.T) {
	a := notifyWatcherNamed("a", 1)
	b := notifyWatcherNamed("b", 1)
	cfg := &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{a, b}}
	na, nb := a, b
	na.Args = []string{"--changed"}
	nb.Env = []string{"POOLD_TEST_WORKER=crash"} // the new version exits at once
	next := &configs.Config{Sockets: cfg.Sockets, Watchers: []configs.Watcher{na, nb}}
	h := start(t, cfg, Options{Load: func() (*configs.Config, error) { c := *next; c.Arbiter = cfg.Arbiter; return &c, nil }})
	readyPidsOf(t, h, map[string]int{"a": 1, "b": 1})
	bPids := fmt.Sprint(h.do("list", map[string]any{"name": "b"})["pids"])
	r := h.a.Do(context.Background(), Request{ID: "r", Command: "reloadconfig", Properties: map[string]any{"waiting": true}})
	reason := fmt.Sprint(r["reason"])
	if r["errno"] != ErrnoAsync || !strings.Contains(reason, `watcher "b" rolled back`) || !strings.Contains(reason, "updated a") || strings.Contains(reason, "nothing was changed") {
		t.Fatalf("reply %v", r)
	}
	if fmt.Sprint(r["updated"]) != "[a]" || r["rolled_back"].(map[string]any)["b"] == nil {
		t.Errorf("fields: updated %v rolled_back %v", r["updated"], r["rolled_back"])
	}
	if got := fmt.Sprint(h.do("list", map[string]any{"name": "b"})["pids"]); got != bPids {
		t.Errorf("b's workers changed: %s, were %s", got, bPids)
	}
	if got := h.do("get", map[string]any{"name": "a", "keys": []any{"args"}})["options"].(Ordered).Values["args"]; got != "--changed" {
		t.Errorf("a's args %v", got)
	}
}

// Defect 7: depends_on held only when everything started or stopped
// together.
func TestDependsOnForSingleStartAndStop(t *testing.T) {
	db := notifyWatcherNamed("db", 1)
	app := notifyWatcherNamed("app", 1)
	app.DependsOn = []string{"db"}
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{db, app}}, Options{})
	readyPidsOf(t, h, map[string]int{"db": 1, "app": 1})
	h.do("stop", map[string]any{"name": "db", "waiting": true})
	if st := h.do("status", nil)["statuses"].(map[string]any); st["app"] != "stopped" || st["db"] != "stopped" {
		t.Fatalf("after stop db: %v", st)
	}
	first := h.next("stop", nil)
	if first.Watcher != "app" {
		t.Errorf("%s stopped first, want app (it depends on db)", first.Watcher)
	}
	h.do("start", map[string]any{"name": "app", "waiting": true})
	if st := h.do("status", nil)["statuses"].(map[string]any); st["app"] != "active" || st["db"] != "active" {
		t.Fatalf("after start app: %v", st)
	}
	dbReady := h.next("ready", func(ev events.Event) bool { return ev.Watcher == "db" })
	appSpawn := h.next("spawn", func(ev events.Event) bool { return ev.Watcher == "app" })
	if appSpawn.Seq < dbReady.Seq {
		t.Errorf("app spawned (seq %d) before db was ready (seq %d)", appSpawn.Seq, dbReady.Seq)
	}
}

// Defect 10: stop then an immediate start ran two generations at once.
func TestStartQueuesBehindStop(t *testing.T) {
	w := testWatcher("single", "serve", 3)
	w.Sockets = []string{"web"}
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{w}}, Options{})
	live := map[int]bool{}
	for pid := range h.spawns(3) {
		live[pid] = true
	}
	h.do("stop", map[string]any{"name": "single"})
	h.do("start", map[string]any{"name": "single"})
	for spawned := 0; spawned < 3; {
		ev := h.next("", func(ev events.Event) bool { return ev.Kind == "spawn" || ev.Kind == "exit" })
		pid := ev.Fields["process_pid"].(int)
		if ev.Kind == "exit" {
			delete(live, pid)
			continue
		}
		live[pid] = true
		spawned++
		if len(live) > 3 {
			t.Fatalf("%d workers alive for numprocesses 3: %v", len(live), live)
		}
	}
}

// Defect 12: start and restart without a name started autostart = false
// watchers.
func TestStartWithoutNameSkipsManualWatchers(t *testing.T) {
	auto := testWatcher("auto", "sleep", 1)
	manual := testWatcher("manual", "sleep", 1)
	manual.Autostart = false
	h := start(t, &configs.Config{Watchers: []configs.Watcher{auto, manual}}, Options{})
	h.spawns(1)
	h.do("start", map[string]any{"waiting": true})
	h.do("restart", map[string]any{"waiting": true})
	if st := h.do("status", map[string]any{"name": "manual"}); st["status"] != "stopped" {
		t.Errorf("manual watcher %v after start/restart without a name", st["status"])
	}
	h.do("start", map[string]any{"name": "manual", "waiting": true})
	if st := h.do("status", map[string]any{"name": "manual"}); st["status"] != "active" {
		t.Errorf("manual watcher %v after start by name", st["status"])
	}
}
