package arbiter_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/arbiter/sdnotify"
	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher/proctest"
	"github.com/poold/poold/watcher/workertest"
	"github.com/poold/poold/web"
)

// TestOneLongStepIsBusyThenStuck: in the r66 soak poold's loop sat ~6 s
// in one step during a rolling reload on a loaded host; /healthz said 503
// "did not answer within 1s and did no work meanwhile" (a Kubernetes
// liveness probe restarts poold and every worker for that), and nothing
// in the log said what the loop was doing. A loop in one step (here a
// worker's start held in its fork by a test hook) is now busy, naming the
// step: /healthz 200 and WATCHDOG=1 go on, and the log has a WARN naming
// the step; past Options.StuckAfter it is stuck: /healthz 503 naming the
// step, no WATCHDOG=1, with a warning naming it.
func TestOneLongStepIsBusyThenStuck(t *testing.T) {
	const bound = 3 * time.Second
	w := configs.DefaultWatcher("web")
	w.Cmd, w.Args, w.NumProcesses = "/bin/sleep", []string{"3600"}, 0
	cfg := &configs.Config{Arbiter: configs.DefaultArbiter(), Watchers: []configs.Watcher{w}}
	logs := &workertest.Buffer{}
	log := hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Info})
	held, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	opts := arbiter.Options{Log: log, Events: events.NewBus(nil), StuckAfter: bound}
	arbiter.HoldSpawnForTest(&opts, func() { once.Do(func() { close(held); <-release }) })
	a := arbiter.New(cfg, opts)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	t.Cleanup(cancel)
	var releaseOnce sync.Once
	free := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(free) // before the waits: a failed test must not hold the loop
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := a.Run(ctx); err != nil {
			t.Errorf("arbiter Run: %v", err)
		}
	}()
	<-a.Up()
	healthz := probeServer(t, ctx, &wg, a)
	dogs := watchdog(t, ctx, &wg, a, log)

	wg.Add(1)
	go func() {
		defer wg.Done()
		a.Do(ctx, arbiter.Request{ID: "t", Command: "incr", Properties: map[string]any{"name": "web"}})
	}()
	<-held
	const step = `spawn (watcher "web" wid 1: /bin/sleep)`
	code, body := healthz()
	if code != http.StatusOK || !strings.Contains(body, "busy in "+step+" for ") {
		t.Errorf("/healthz with the loop in one step for less than its bound: %d %q, want 200 saying it is busy in %s", code, body, step)
	}
	seen := dogs.Load()
	proctest.Eventually(t, "a WATCHDOG=1 while the loop is busy in one step", func() bool { return dogs.Load() > seen })
	proctest.Eventually(t, "a WARN naming the step still in progress", func() bool {
		return strings.Contains(logs.String(), `[WARN]  poold's event loop is still in one step`) && strings.Contains(logs.String(), `step="spawn (watcher \"web\" wid 1: /bin/sleep)"`)
	})
	proctest.Eventually(t, "/healthz 503 past the bound", func() bool {
		code, body = healthz()
		return code == http.StatusServiceUnavailable
	})
	if !strings.Contains(body, "stuck: in "+step) {
		t.Errorf("/healthz past the bound: %q, want it to name the step %s", body, step)
	}
	proctest.Eventually(t, "the watchdog's warning naming the step", func() bool {
		return strings.Contains(logs.String(), "no WATCHDOG=1") && strings.Contains(logs.String(), `stuck: in spawn (watcher \"web\" wid 1`)
	})
	free()
	proctest.Eventually(t, "/healthz 200 once the step ended", func() bool {
		code, body = healthz()
		return code == http.StatusOK && body == "ok\n"
	})
	if !strings.Contains(logs.String(), `[WARN]  poold's event loop spent long in one step`) {
		t.Errorf("no WARN with the step's duration at its end:\n%s", logs.String())
	}
}

// probeServer serves a's /healthz on a loopback port and returns a probe.
func probeServer(t *testing.T, ctx context.Context, wg *sync.WaitGroup, a *arbiter.Arbiter) func() (int, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p, err := web.NewProbeServer(web.ProbeOptions{Address: l.Addr().String(), Health: a})
	if err != nil {
		t.Fatal(err)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = p.Serve(ctx, l)
	}()
	client := &http.Client{Timeout: 30 * time.Second}
	return func() (int, string) {
		t.Helper()
		resp, err := client.Get("http://" + l.Addr().String() + "/healthz")
		if err != nil {
			t.Fatalf("/healthz: %v", err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
}

// watchdog runs a Notifier with a watchdog for a on a socket of its own
// and counts the WATCHDOG=1 it sends.
func watchdog(t *testing.T, ctx context.Context, wg *sync.WaitGroup, a *arbiter.Arbiter, log hclog.Logger) *atomic.Int64 {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	wg.Add(2)
	go func() {
		defer wg.Done()
		buf := make([]byte, 4096)
		for {
			k, err := c.Read(buf)
			if err != nil {
				return
			}
			if strings.Contains(string(buf[:k]), "WATCHDOG=1") {
				n.Add(1)
			}
		}
	}()
	go func() {
		defer wg.Done()
		defer c.Close()
		_ = sdnotify.New(sdnotify.Options{Socket: path, Watchdog: 400 * time.Millisecond, Log: log}).Run(ctx, a)
	}()
	return &n
}
