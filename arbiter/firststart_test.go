package arbiter

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/proctest"
)

// TestWaitedStartReportsAWorkerDeadBeforeReady (report C §2): a waited
// start or add of a program that dies at once (a gunicorn app that cannot
// be imported, sh -c 'exit 3') answered ok, because a worker of a first
// start with readiness "spawn" was ready at fork and so never died
// "before it was ready". It now waits for the readiness a rolling reload
// uses (with sockets: the worker waits for connections on one; without:
// it outlives a short window), and the reply names the slot and why.
func TestWaitedStartReportsAWorkerDeadBeforeReady(t *testing.T) {
	gunicorn := proctest.Tool(t, "gunicorn", "gunicorn")
	noApp := t.TempDir() // no module in it: gunicorn's worker cannot import nosuchapp
	for _, tc := range []struct {
		name    string
		cmd     string
		args    []string
		sockets bool
		how     string // "start" or "add"
		want    string
	}{
		{"gunicorn app that cannot import", gunicorn, []string{"--workers", "1", "--chdir", noApp, "nosuchapp:app"}, true, "start",
			`watcher "bad" wid 1 has no worker (backoff: exited with status 3)`},
		{"sh exit 3 on a socket", "/bin/sh", []string{"-c", "exit 3"}, true, "start",
			`watcher "bad" wid 1 has no worker (backoff: exited with status 3)`},
		{"sh exit 3 added", "/bin/sh", []string{"-c", "exit 3"}, true, "add",
			`watcher "bad" wid 1 has no worker (backoff: exited with status 3)`},
		{"sh exit 3 without socket", "/bin/sh", []string{"-c", "exit 3"}, false, "start",
			`watcher "bad" wid 1 has no worker (backoff: exited with status 3)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			good := testWatcher("good", "serve", 1)
			good.Sockets = []string{"web"}
			cfg := &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{good}}
			bad := configs.DefaultWatcher("bad")
			bad.Cmd, bad.Args, bad.Autostart = tc.cmd, tc.args, false
			if tc.sockets {
				bad.Sockets = []string{"web"}
			}
			if tc.how == "start" {
				cfg.Watchers = append(cfg.Watchers, bad)
			}
			h := start(t, cfg, Options{})
			readyPids(t, h, "good", 1)
			props := map[string]any{"name": "bad", "waiting": true}
			if tc.how == "add" {
				props["cmd"], props["args"], props["start"] = tc.cmd, tc.args, true
				props["options"] = map[string]any{"sockets": bad.Sockets}
			}
			r := h.a.Do(context.Background(), Request{ID: "s", Command: tc.how, Properties: props})
			// gunicorn's master exits 3 once its worker failed to boot; seen
			// first, that worker's exit fails readiness, and the reason
			// carries both ("backoff: failed readiness: its worker
			// processes exited ...: exited with status 3").
			head, tail, _ := strings.Cut(strings.TrimSuffix(tc.want, ")"), "(backoff: ")
			if reason := fmt.Sprint(r["reason"]); r["errno"] != ErrnoAsync || !strings.Contains(reason, head+"(backoff: ") || !strings.Contains(reason, tail) {
				t.Fatalf("waited %s of a program that dies at once: %v; want an error (errno %d) saying %q", tc.how, r, ErrnoAsync, tc.want)
			}
		})
	}
}

// A waited start answers once the workers wait for connections: plain
// workers that load for 300 ms before they take their socket have all
// taken it when the reply comes.
func TestWaitedStartAnswersOnceWorkersListen(t *testing.T) {
	const n = 3
	dir := t.TempDir()
	w := testWatcher("web", "plain", n)
	w.Sockets = []string{"web"}
	w.Autostart = false
	w.Env = append(w.Env, "PLAIN_LOAD_TIME=300ms", "PLAIN_TIMES_DIR="+dir)
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{w}}, Options{})
	r := h.do("start", map[string]any{"name": "web", "waiting": true})
	started, _ := r["info"].(map[string]any)["started"].([]int)
	if len(started) != n {
		t.Fatalf("waited start: %v; want %d workers started", r, n)
	}
	for _, pid := range started {
		if _, err := os.Stat(filepath.Join(dir, fmt.Sprintf("listen.%d", pid))); err != nil {
			t.Errorf("worker %d had not taken its socket when the waited start answered: %v", pid, err)
		}
	}
}

// BenchmarkWaitedStart10Plain is the time a waited start of 10 plain Go
// workers on a socket takes, until the reply (each worker is ready once
// it waits for connections); listen-to-reply-ms is how long after the
// last worker took its socket the reply came.
func BenchmarkWaitedStart10Plain(b *testing.B) {
	dir := b.TempDir()
	w := testWatcher("web", "plain", 10)
	w.Sockets = []string{"web"}
	w.Autostart = false
	w.Env = append(w.Env, "PLAIN_TIMES_DIR="+dir)
	h := start(b, &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{w}}, Options{Log: hclog.NewNullLogger()})
	var lag time.Duration
	for b.Loop() {
		r := h.do("start", map[string]any{"name": "web", "waiting": true})
		replied := time.Now()
		b.StopTimer()
		var last int64
		for _, pid := range r["info"].(map[string]any)["started"].([]int) {
			if raw, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("listen.%d", pid))); err == nil {
				ns, _ := strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64)
				last = max(last, ns)
			}
		}
		if last > 0 {
			lag += replied.Sub(time.Unix(0, last))
		}
		h.do("stop", map[string]any{"name": "web", "waiting": true})
		b.StartTimer()
	}
	b.ReportMetric(float64(lag.Milliseconds())/float64(b.N), "listen-to-reply-ms")
}

// A waited reloadconfig that adds a watcher whose workers die before they
// are ready (here on a socket) fails too, naming it under not_started.
func TestWaitedReloadReportsAddedWatcherDeadBeforeReady(t *testing.T) {
	good := testWatcher("good", "serve", 1)
	good.Sockets = []string{"web"}
	cfg := &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{good}}
	bad := configs.DefaultWatcher("bad")
	bad.Cmd, bad.Args, bad.Sockets = "/bin/sh", []string{"-c", "exit 3"}, []string{"web"}
	h := start(t, cfg, Options{Load: func() (*configs.Config, error) {
		c := *cfg
		c.Watchers = []configs.Watcher{good, bad}
		return &c, nil
	}})
	readyPids(t, h, "good", 1)
	r := h.a.Do(context.Background(), Request{ID: "r", Command: "reloadconfig", Properties: map[string]any{"waiting": true}})
	ns, _ := r["not_started"].(map[string]any)
	if r["errno"] != ErrnoAsync || !strings.Contains(fmt.Sprint(ns["bad"]), "exited with status 3") {
		t.Fatalf("waited reload adding a watcher whose workers die at once: %v; want an error, bad under not_started", r)
	}
}
