package arbiter

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher/proctest"
	"github.com/poold/poold/watcher/spawn"
	"github.com/poold/poold/watcher/workertest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	spawn.RunShimIfRequested()
	workertest.Main()
	catchIgnoredAsPooldDoes()
	goleak.VerifyTestMain(m)
}

// catchIgnoredAsPooldDoes: a Go program keeps SIGHUP and SIGINT ignored
// when it starts with them so (nohup, a shell's background job), and an
// ignored signal stays ignored across exec, in every worker the test
// starts: a worker's `trap ... HUP` then silently does nothing, and
// TestSendHUPReachesTheWorkerOnly waited a minute for a HUP its worker
// never saw, in whole-package runs started that way. poold catches both
// (cmd/poold), so its workers start with them at their default; this
// test binary catches them as poold does, only when they are ignored
// (else ^C must still end it). Nothing reads the channel: Notify never
// blocks.
func catchIgnoredAsPooldDoes() {
	for _, sig := range []os.Signal{syscall.SIGHUP, syscall.SIGINT} {
		if signal.Ignored(sig) {
			signal.Notify(make(chan os.Signal, 1), sig)
		}
	}
}

// hang is the generous bound that only catches a hang.
const hang = 60 * time.Second

// quickExit, in a worker's environment, drops the -race runtime's 1 s
// exit sleep from the start: without it workertest.Main execs the worker
// again to drop it (quickRaceExit), a second start of this race-built
// binary (~0.16 s of CPU, seconds of wall under load) for every worker.
// A worker without it (a test's own env) still exits quickly, through
// that exec. Ignored by a binary built without -race.
const quickExit = "GORACE=atexit_sleep_ms=0"

// testWatcher is a watcher running this test binary in a workertest mode.
func testWatcher(name, mode string, n int) configs.Watcher {
	w := configs.DefaultWatcher(name)
	w.Cmd = os.Args[0]
	w.NumProcesses = n
	w.Env = []string{workertest.Env + "=" + mode, quickExit}
	if mode == "crash" {
		// What workertest's crash mode does, by a shell: a crash loop
		// started the race-built test binary once per attempt, seconds
		// of wall each under load, to print a line and exit 3.
		w.Cmd, w.Args = "/bin/sh", []string{"-c", "echo crashing on purpose; exit 3"}
	}
	w.GracefulTimeout = 5 * time.Second
	return w
}

func tcpSocket(name string) configs.Socket {
	s := configs.DefaultSocket(name)
	s.Family = "tcp"
	return s
}

// harness runs an arbiter for one test.
type harness struct {
	t   testing.TB
	a   *Arbiter
	sub *events.Subscription
	log *syncBuffer
}

// syncBuffer is a log sink safe to read while the process under test writes.
type syncBuffer = workertest.Buffer

func start(t testing.TB, cfg *configs.Config, opts Options) *harness {
	t.Helper()
	if cfg.Arbiter.LogLevel == "" {
		cfg.Arbiter = configs.DefaultArbiter()
	}
	buf := &syncBuffer{}
	if opts.Log == nil {
		opts.Log = hclog.New(&hclog.LoggerOptions{Output: io.MultiWriter(buf, testWriter{t}), Level: hclog.Debug})
	}
	if opts.Events == nil {
		opts.Events = events.NewBus(nil)
	}
	h := &harness{t: t, log: buf, sub: opts.Events.Subscribe(100000)}
	h.a = New(cfg, opts)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- h.a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("arbiter Run: %v", err)
			}
		case <-time.After(hang):
			t.Errorf("arbiter did not stop within %v", hang)
		}
		h.sub.Close()
	})
	return h
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// do runs a command and fails the test on an error reply.
func (h *harness) do(cmd string, props map[string]any) Reply {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	r := h.a.Do(ctx, Request{ID: "t", Command: cmd, Properties: props})
	// Like Circus, status with a name replaces "ok" by the watcher's status.
	if r["status"] == "error" {
		h.t.Fatalf("%s %v: %v", cmd, props, r)
	}
	return r
}

// next waits for the next event of kind ("" for any) matching pred.
func (h *harness) next(kind string, pred func(events.Event) bool) events.Event {
	h.t.Helper()
	deadline := time.After(hang)
	for {
		select {
		case ev, ok := <-h.sub.C():
			if !ok {
				h.t.Fatalf("event stream closed waiting for %s", kind)
			}
			if (kind == "" || string(ev.Kind) == kind) && (pred == nil || pred(ev)) {
				return ev
			}
		case <-deadline:
			h.t.Fatalf("no %s event within %v", kind, hang)
		}
	}
}

// doAsync sends a request and returns where its reply will arrive.
func doAsync(h *harness, cmd string, props map[string]any) <-chan Reply {
	out := make(chan Reply, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), hang)
		defer cancel()
		out <- h.a.Do(ctx, Request{ID: cmd, Command: cmd, Properties: props})
	}()
	return out
}

// spawned waits for one spawn event and returns its pid.
func (h *harness) spawned() int {
	h.t.Helper()
	for pid := range h.spawns(1) {
		return pid
	}
	return 0
}

// serving waits until a worker answers HTTP on socket: a stubborn
// worker ignores SIGTERM from then on.
func (h *harness) serving(socket string) {
	h.t.Helper()
	proctest.Eventually(h.t, "a worker serves on socket "+socket, func() bool {
		_, err := get(h.socketAddr(socket), "/")
		return err == nil
	})
}

// spawns waits for n spawn events and returns pid -> wid.
func (h *harness) spawns(n int) map[int]int {
	h.t.Helper()
	out := map[int]int{}
	for len(out) < n {
		ev := h.next("spawn", nil)
		out[ev.Fields["process_pid"].(int)] = ev.Fields["process_id"].(int)
	}
	return out
}

func (h *harness) socketAddr(name string) string {
	h.t.Helper()
	r := h.do("listsockets", nil)
	for _, s := range r["sockets"].([]map[string]any) {
		if s["name"] == name {
			return net.JoinHostPort(fmt.Sprint(s["host"]), fmt.Sprint(s["port"]))
		}
	}
	h.t.Fatalf("no socket %q in %v", name, r)
	return ""
}

// get fetches path from addr on a fresh connection.
func get(addr, path string) (string, error) {
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + addr + path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func scanLines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}
