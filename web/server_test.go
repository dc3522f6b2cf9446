package web

import (
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/hashicorp/go-hclog"
	"go.uber.org/goleak"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/configs"
)

func TestMain(m *testing.M) {
	if os.Getenv(benchClientEnv) != "" {
		os.Exit(benchClientMain())
	}
	goleak.VerifyTestMain(cleanRun{m})
}

// cleanRun runs the tests, then ends the browser they shared and removes
// the binary they built.
type cleanRun struct{ m *testing.M }

func (c cleanRun) Run() int {
	defer removeBuilt()
	defer closeBrowser()
	return c.m.Run()
}

// testServer is a running console on a loopback port.
type testServer struct {
	*Server
	fake *fakeBackend
	addr string // host:port
	url  string // http://host:port
}

// startServer serves a console over fake on 127.0.0.1:0 until the test ends.
func startServer(t testing.TB, fake *fakeBackend, cfg configs.Web, tune func(*tunings)) *testServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Address == "" {
		cfg.Address = l.Addr().String()
	}
	s, err := New(Options{Config: cfg, Backend: fake, Events: fake.Events, Stats: fake.Stats,
		Log: hclog.New(&hclog.LoggerOptions{Name: "web", Level: hclog.Warn, Output: testWriter{t}})})
	if err != nil {
		t.Fatal(err)
	}
	if tune != nil {
		tune(&s.tunings)
	}
	runServer(t, s, l)
	return &testServer{Server: s, fake: fake, addr: l.Addr().String(), url: "http://" + l.Addr().String()}
}

// runServer serves s on l until the returned stop is called, or the test
// ends; stop waits for Serve to return (at most once, however often it is
// called).
func runServer(t testing.TB, s *Server, l net.Listener) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, l) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(hang):
			t.Errorf("Serve did not return within %v of cancel", hang)
		}
	}
	t.Cleanup(stop)
	return stop
}

func killPid(pid int) error { return syscall.Kill(pid, syscall.SIGKILL) }

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	fake := &fakeBackend{}
	for _, tc := range []struct {
		name    string
		cfg     configs.Web
		backend Backend
		wantErr string
	}{
		{"default address", configs.Web{}, fake, ""},
		{"loopback v4", configs.Web{Address: "127.0.0.1:9"}, fake, ""},
		{"loopback v6", configs.Web{Address: "[::1]:9"}, fake, ""},
		{"localhost", configs.Web{Address: "localhost:9"}, fake, ""},
		{"wildcard without token", configs.Web{Address: "0.0.0.0:8080"}, fake, "not loopback and no token"},
		{"empty host without token", configs.Web{Address: ":8080"}, fake, "not loopback and no token"},
		{"remote name without token", configs.Web{Address: "example.org:8080"}, fake, "not loopback and no token"},
		{"wildcard with token", configs.Web{Address: "0.0.0.0:8080", Token: "s3cret"}, fake, ""},
		{"no port", configs.Web{Address: "127.0.0.1"}, fake, "want host:port"},
		{"no backend", configs.Web{}, nil, "no backend"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(Options{Config: tc.cfg, Backend: tc.backend})
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("New: got %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestRunRefusesBusyAddress(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	s, err := New(Options{Config: configs.Web{Address: l.Addr().String()}, Backend: &fakeBackend{}})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), l.Addr().String()) {
		t.Fatalf("Run on a busy address: got %v, want an error naming it", err)
	}
}

func get(t *testing.T, rawURL string, mod func(*http.Request)) *http.Response {
	t.Helper()
	req, err := http.NewRequest("GET", rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if mod != nil {
		mod(req)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func TestPageAndAssets(t *testing.T) {
	t.Parallel()
	ts := startServer(t, newFakeBackend(t, map[string]int{"web": 1}), configs.Web{}, nil)
	for _, tc := range []struct {
		path, ctype string
		code        int
	}{
		{"/", "text/html", 200},
		{"/static/app.js", "javascript", 200},
		{"/static/app.css", "text/css", 200},
		{"/static/favicon.svg", "image/svg+xml", 200},
		{"/nope", "", 404},
	} {
		resp := get(t, ts.url+tc.path, nil)
		if resp.StatusCode != tc.code || !strings.Contains(resp.Header.Get("Content-Type"), tc.ctype) {
			t.Errorf("GET %s: %d %q, want %d %q", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), tc.code, tc.ctype)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("GET %s: CSP %q", tc.path, csp)
		}
	}
	req, _ := http.NewRequest("POST", ts.url+"/", strings.NewReader("x"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /: %d, want 405", resp.StatusCode)
	}
}

// The page must load nothing from the internet: every URL in the assets is
// relative to this origin.
func TestAssetsAreSelfContained(t *testing.T) {
	t.Parallel()
	abs := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`)
	err := fs.WalkDir(assets, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(assets, path)
		if err != nil {
			return err
		}
		for _, m := range abs.FindAllString(string(b), -1) {
			if m == "http://www.w3.org" { // the SVG namespace, not a fetch
				continue
			}
			t.Errorf("%s refers to %q: assets must come from poold itself", path, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func dialConsole(t testing.TB, ts *testServer) *wsClient {
	t.Helper()
	h := http.Header{"Origin": {"http://" + ts.addr}}
	c, _, err := websocket.DefaultDialer.Dial("ws://"+ts.addr+"/ws", h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &wsClient{t: t, c: c}
}

// hang bounds a wait in these tests: long enough for a loaded machine
// (10 s was not: the test process can go unscheduled for seconds), short
// enough to end a hang before the test timeout.
const hang = 30 * time.Second

// next reads messages until one satisfies match (generous deadline).
func (w *wsClient) next(what string, match func(map[string]any) bool) map[string]any {
	w.t.Helper()
	w.c.SetReadDeadline(time.Now().Add(hang))
	for {
		_, b, err := w.c.ReadMessage()
		if err != nil {
			w.t.Fatalf("waiting for %s: %v", what, err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			w.t.Fatalf("message is not JSON: %v: %s", err, b)
		}
		if match(m) {
			return m
		}
	}
}

func (w *wsClient) send(id, command string, props map[string]any) {
	w.t.Helper()
	if err := w.c.WriteJSON(map[string]any{"id": id, "command": command, "properties": props}); err != nil {
		w.t.Fatal(err)
	}
}

func (w *wsClient) reply(id string) map[string]any {
	w.t.Helper()
	m := w.next("reply "+id, func(m map[string]any) bool { return m["type"] == "reply" && m["id"] == id })
	return m["reply"].(map[string]any)
}

func typeIs(t string) func(map[string]any) bool {
	return func(m map[string]any) bool { return m["type"] == t }
}

// watcherIn returns watcher name in a hello/state/watcher message, or
// in a sync's changed watchers.
func watcherIn(m map[string]any, name string) map[string]any {
	if w, ok := m["watcher"].(map[string]any); ok && w["name"] == name {
		return w
	}
	st, _ := m["state"].(map[string]any)
	if m["type"] == "sync" {
		st = m
	}
	for _, w := range asSlice(st["watchers"]) {
		if wm := w.(map[string]any); wm["name"] == name {
			return wm
		}
	}
	return nil
}

func TestWebsocketFlow(t *testing.T) {
	t.Parallel()
	fake := newFakeBackend(t, map[string]int{"web": 2, "worker": 1})
	ts := startServer(t, fake, configs.Web{}, nil)
	c := dialConsole(t, ts)

	hello := c.next("hello", typeIs("hello"))
	if hello["read_only"] != false {
		t.Errorf("hello read_only = %v", hello["read_only"])
	}
	// The hello may come before the first load; then a state follows.
	if st, _ := hello["state"].(map[string]any); st["loaded"] != true {
		hello = c.next("state", func(m map[string]any) bool { return m["type"] == "state" && watcherIn(m, "web") != nil })
	}
	web := watcherIn(hello, "web")
	if web == nil || len(web["procs"].(map[string]any)) != 2 || web["status"] != "active" {
		t.Fatalf("web in first state: %v", web)
	}
	if opts := web["options"].(map[string]any); opts["cmd"] != "sleep" || opts["numprocesses"] != 2.0 {
		t.Errorf("web options: %v", opts)
	}

	// incr: the reply carries the new target, then the spawn event and a
	// refreshed watcher with three processes follow.
	c.send("a1", "incr", map[string]any{"name": "web", "nb": 1})
	if r := c.reply("a1"); r["status"] != "ok" || r["numprocesses"] != 3.0 {
		t.Fatalf("incr reply: %v", r)
	}
	c.next("spawn event", func(m map[string]any) bool {
		if m["type"] != "events" {
			return false
		}
		for _, e := range asSlice(m["events"]) {
			if e := e.(map[string]any); e["kind"] == "spawn" && e["watcher"] == "web" {
				return true
			}
		}
		return false
	})
	c.next("web with 3 processes", func(m map[string]any) bool {
		w := watcherIn(m, "web")
		return w != nil && len(w["procs"].(map[string]any)) == 3
	})

	// Stats stream as one batch per round.
	fake.Sample(false)
	st := c.next("stats", typeIs("stats"))
	if procs := st["procs"].(map[string]any)["web"].(map[string]any); len(procs) != 3 {
		t.Errorf("stats for web: %d processes, want 3", len(procs))
	}
	if st["poold"] == nil || st["points"].(map[string]any)["web"] == nil {
		t.Errorf("stats message lacks poold info or a history point: %v", st)
	}

	// An error reply carries the reason.
	c.send("a2", "kill", map[string]any{"name": "web", "pid": 1})
	if r := c.reply("a2"); r["status"] != "error" || !strings.Contains(r["reason"].(string), "no process 1") {
		t.Errorf("kill of a stranger: %v", r)
	}
	c.send("a3", "incr", map[string]any{"name": "nosuch"})
	if r := c.reply("a3"); r["status"] != "error" || r["errno"] != 3.0 {
		t.Errorf("incr unknown watcher: %v", r)
	}
	// Bad JSON is answered, not fatal.
	c.c.WriteMessage(websocket.TextMessage, []byte("{nope"))
	if r := c.next("bad json reply", typeIs("reply"))["reply"].(map[string]any); r["errno"] != 1.0 {
		t.Errorf("bad JSON: %v", r)
	}
	// Commands outside the console's set are refused before the backend.
	before := len(fake.Calls())
	for i, cmd := range []string{"quit", "add", "rm", "set"} {
		id := "x" + string(rune('0'+i))
		c.send(id, cmd, map[string]any{"name": "web"})
		if r := c.reply(id); r["status"] != "error" || !strings.Contains(r["reason"].(string), "poolctl") {
			t.Errorf("%s: %v", cmd, r)
		}
	}
	for _, call := range fake.Calls()[before:] {
		if call == "quit" || call == "add" || call == "rm" || call == "set" {
			t.Errorf("backend received %q from the console", call)
		}
	}
}

func TestKillFromOutsideShowsReapAndSpawn(t *testing.T) {
	t.Parallel()
	fake := newFakeBackend(t, map[string]int{"web": 2})
	ts := startServer(t, fake, configs.Web{}, nil)
	c := dialConsole(t, ts)
	c.next("loaded", func(m map[string]any) bool { return watcherIn(m, "web") != nil })
	victim := fake.Pids("web")[1]
	if err := killPid(victim); err != nil {
		t.Fatal(err)
	}
	var reaped, spawned bool
	c.next("reap and spawn", func(m map[string]any) bool {
		for _, e := range asSlice(m["events"]) {
			e := e.(map[string]any)
			f, _ := e["fields"].(map[string]any)
			if e["kind"] == "reap" && f["process_pid"] == float64(victim) && f["exit_code"] == -9.0 {
				reaped = true
			}
			if e["kind"] == "spawn" && f["process_id"] == 1.0 {
				spawned = true
			}
		}
		return reaped && spawned
	})
}

func TestReadOnlyRefusesActions(t *testing.T) {
	t.Parallel()
	fake := newFakeBackend(t, map[string]int{"web": 1})
	ts := startServer(t, fake, configs.Web{ReadOnly: true}, nil)
	c := dialConsole(t, ts)
	if h := c.next("hello", typeIs("hello")); h["read_only"] != true {
		t.Fatalf("hello read_only = %v", h["read_only"])
	}
	before := len(fake.Calls())
	// errno 7, as README says of a refusal and as the API's read-only
	// token gets; commands got 5 and fleet_add 7 (r55b console review).
	for i, cmd := range []string{"incr", "decr", "stop", "start", "restart", "reload", "kill", "signal", "reloadconfig", "fleet_add", "fleet_rm"} {
		id := "r" + string(rune('a'+i))
		c.send(id, cmd, map[string]any{"name": "web", "pid": 1})
		r := c.reply(id)
		if r["status"] != "error" || !strings.Contains(r["reason"].(string), "read-only") || r["errno"] != float64(arbiter.ErrnoForbidden) {
			t.Errorf("%s in read-only mode: %v, want errno %d saying read-only", cmd, r, arbiter.ErrnoForbidden)
		}
	}
	for _, call := range fake.Calls()[before:] {
		if actionCommands[call] {
			t.Errorf("backend received action %q from a read-only console", call)
		}
	}
	// Reads still work.
	c.send("s", "status", map[string]any{"name": "web"})
	if r := c.reply("s"); r["status"] != "active" {
		t.Errorf("status in read-only mode: %v", r)
	}
}
