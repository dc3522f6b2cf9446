package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-zeromq/zmq4"
	"github.com/google/go-cmp/cmp"

	"github.com/poold/poold/watcher/proctest"
)

// result is what one run printed and returned.
type result struct {
	code           int
	stdout, stderr string
	took           time.Duration
}

// poolctl runs the CLI in-process, bounded by a hang-catching deadline.
func poolctl(t testing.TB, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	start := time.Now()
	code := run(ctx, args, &out, &errb)
	return result{code, out.String(), errb.String(), time.Since(start)}
}

func (r result) String() string {
	return "exit " + itoa(r.code) + "\nstdout:\n" + r.stdout + "\nstderr:\n" + r.stderr
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// missingEndpoint is an ipc endpoint whose socket does not exist.
func missingEndpoint(t testing.TB) string {
	return "ipc://" + filepath.Join(t.TempDir(), "control.sock")
}

func TestUsageErrors(t *testing.T) {
	ep := missingEndpoint(t)
	tests := []struct {
		name string
		args []string
		want []string // substrings of stderr
	}{
		{"no command", nil, []string{"missing command"}},
		{"unknown command suggests closest", []string{"incre", "web"}, []string{`unknown command "incre"`, "Did you mean this?", "incr", "poolctl --help"}},
		{"typo in stats", []string{"stat"}, []string{`unknown command "stat"`, "stats", "status"}},
		{"incr without watcher", []string{"incr"}, []string{"incr: missing watcher NAME", "usage: poolctl incr NAME [NB]", "poolctl list"}},
		{"rm without watcher", []string{"rm"}, []string{"rm: missing watcher NAME"}},
		{"options without watcher", []string{"options"}, []string{"options: missing watcher NAME"}},
		{"bad NB", []string{"incr", "web", "two"}, []string{`NB must be a whole number >= 0, got "two"`}},
		{"negative NB", []string{"decr", "web", "-1"}, []string{`decr: NB must be a whole number >= 0, got "-1"`}},
		{"help of an unknown command", []string{"help", "nope"}, []string{`poolctl: help: unknown command "nope"; 'poolctl --help' lists the commands`}},
		{"too many", []string{"incr", "web", "1", "2"}, []string{`incr: too many arguments: "2" left over after 2`, "usage: poolctl incr NAME [NB]"}},
		// A count read like the argument "3".
		{"too many, a number", []string{"signal", "web", "1", "2", "3"}, []string{`signal: too many arguments: "3" left over after 3`, "usage: poolctl signal NAME [PID] SIGNAL"}},
		{"signal without signal", []string{"signal", "web"}, []string{"signal: missing SIGNAL", "poolctl signal NAME [PID] SIGNAL"}},
		{"signal bad pid", []string{"signal", "web", "abc", "HUP"}, []string{`PID must be a positive whole number, got "abc"`}},
		// As a bad number is: poolctl knows poold's signal names.
		{"signal bad name", []string{"signal", "web", "BOGUS"}, []string{`signal: SIGNAL "BOGUS" is no signal: use a name such as TERM, HUP or SIGRTMIN+2, or a number (usage: poolctl signal NAME [PID] SIGNAL)`}},
		{"kill bad signal", []string{"kill", "web", "--signal", "BOGUS"}, []string{`kill: --signal "BOGUS" is no signal`}},
		{"set without value", []string{"set", "web", "numprocesses"}, []string{"set: missing VALUE"}},
		{"set odd pairs", []string{"set", "web", "numprocesses", "2", "stop_signal"}, []string{`option "stop_signal" has no VALUE`}},
		{"get without key", []string{"get", "web"}, []string{"get: missing KEY"}},
		{"add without cmd", []string{"add", "web"}, []string{"add: missing CMD"}},
		{"add with a flag after NAME", []string{"add", "web", "--start", "sh", "-c", "exit 3"}, []string{`add: "--start" after NAME "web" would be the program to run; put poolctl's flags before NAME: poolctl add --start web sh -c exit 3`}},
		{"add with a short flag after NAME", []string{"add", "web", "-h", "sleep"}, []string{`add: "-h" after NAME "web" would be the program`}},
		{"add with -- after NAME", []string{"add", "web", "--", "sleep", "1"}, []string{`add: "--" after NAME "web" would be the program to run; leave it out`}},
		{"unknown flag", []string{"stats", "--bogus"}, []string{"unknown flag: --bogus", "poolctl stats --help"}},
		{"bad timeout", []string{"--timeout", "soon", "status"}, []string{`"soon" is not a duration`}},
		{"stats bad pid", []string{"stats", "web", "x"}, []string{"PID must be a positive whole number"}},
		{"events since not a number", []string{"events", "--since", "abc"}, []string{`poolctl: events: invalid argument "abc" for "--since" flag: want an event's seq, a whole number >= 0 (the "seq" of an event in poolctl --json events), got "abc"`}},
		{"kill pid 0", []string{"kill", "web", "0"}, []string{`poolctl: kill: PID must be a positive whole number, got "0" (usage: poolctl kill NAME [PID])`}},
		{"kill bad grace", []string{"kill", "web", "--graceful-timeout", "x"}, []string{"--graceful-timeout"}},
		{"kill negative grace", []string{"kill", "web", "--graceful-timeout", "-1"}, []string{"kill: --graceful-timeout: must be >= 0 (0 sends SIGKILL right after the signal), got -1"}},
		{"kill grace too large", []string{"kill", "web", "--graceful-timeout", "10000000000"}, []string{"kill: --graceful-timeout: 10000000000 seconds is too large: at most 9223372036 seconds"}},
		{"top takes no args", []string{"top", "now"}, []string{`unknown command "now"`}},
		{"no-wait with waiting", []string{"--waiting", "reload", "web", "--no-wait"}, []string{"reload: --waiting and --no-wait contradict each other"}},
		{"no-wait only where waiting is the default", []string{"stop", "web", "--no-wait"}, []string{"unknown flag: --no-wait"}},
		{"unknown flag before the command", []string{"--nosuchflag", "status"}, []string{"poolctl: unknown flag: --nosuchflag (see 'poolctl --help')\n"}},
		{"unsupported transport", []string{"--endpoint", "foo://bar", "status"}, []string{`poolctl: --endpoint foo://bar: transport "foo" is not supported: write ipc:///path/to/control.sock or tcp://HOST:PORT`}},
		{"tcp endpoint without port", []string{"--endpoint", "tcp://127.0.0.1", "status"}, []string{"poolctl: --endpoint tcp://127.0.0.1: ", "write tcp://HOST:PORT"}},
		{"a path for an endpoint", []string{"--endpoint", "/run/poold/control.sock", "list"}, []string{"--endpoint /run/poold/control.sock: not an endpoint"}},
		{"a URL for an endpoint", []string{"--endpoint", "https://127.0.0.1:8443", "list"}, []string{"that is a URL: use --url"}},
		{"bad pubsub endpoint", []string{"--pubsub-endpoint", "127.0.0.1:5556", "events"}, []string{"--pubsub-endpoint 127.0.0.1:5556: not an endpoint"}},
		{"completion of an unknown shell", []string{"completion", "foo"}, []string{`poolctl: completion: unknown shell "foo" (usage: poolctl completion bash|fish|powershell|zsh)`}},
		{"completion without shell", []string{"completion"}, []string{"completion: missing SHELL"}},
		{"logs more lines than poold sends", []string{"logs", "web", "-n", "20000"}, []string{"logs: -n must be between 0 and 10000 (the most poold sends at once), got 20000"}},
		{"logs negative lines", []string{"logs", "web", "-n", "-5"}, []string{"logs: -n must be between 0 and 10000"}},
		{"logs negative wid", []string{"logs", "web", "--wid", "-3"}, []string{"logs: --wid must be a worker's slot number, 1 or more, got -3"}},
		// These were judged by poold (exit 1, the wire's words) or not at
		// all (listen waited forever for a topic nobody publishes).
		{"restart bad match", []string{"restart", "--match", "bogus", "web"}, []string{`restart: --match "bogus" is no match method: use glob (the default: web-*), regex or simple`}},
		{"add empty name", []string{"add", "", "sleep", "9"}, []string{"add: NAME is empty: name the new watcher"}},
		{"add empty cmd", []string{"add", "web", ""}, []string{`add: CMD of watcher "web" is empty`}},
		{"listen an endpoint", []string{"listen", "tcp://127.0.0.1:5556"}, []string{`listen: "tcp://127.0.0.1:5556" is an endpoint, not a topic prefix: write poolctl listen --pubsub-endpoint tcp://127.0.0.1:5556`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := poolctl(t, append([]string{"--endpoint", ep}, tc.args...)...)
			if r.code != exitUsage {
				t.Fatalf("want exit 2, got %v", r)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
			if strings.Contains(r.stderr, "Cannot reach") || strings.Contains(r.stderr, "poolctl: poolctl:") {
				t.Errorf("a usage error must not try to connect, nor name poolctl twice:\n%s", r.stderr)
			}
		})
	}
	t.Run("bad POOLCTL_ENDPOINT", func(t *testing.T) {
		t.Setenv("POOLCTL_ENDPOINT", "foo://bar")
		r := poolctl(t, "status")
		if r.code != exitUsage || !strings.HasPrefix(r.stderr, `poolctl: POOLCTL_ENDPOINT=foo://bar: transport "foo" is not supported`) {
			t.Errorf("want exit 2 naming POOLCTL_ENDPOINT, got %v", r)
		}
	})
}

func TestHelpAndCompletion(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--help"}, {"incr", "--help"}, {"help", "stats"}, {"completion", "bash"}, {"completion", "zsh"}} {
		r := poolctl(t, args...)
		if r.code != 0 || r.stdout == "" {
			t.Errorf("%v: want exit 0 with output, got %v", args, r)
		}
	}
	r := poolctl(t, "--help")
	for _, name := range []string{"list", "status", "numwatchers", "numprocesses", "start", "stop", "restart", "reload",
		"incr", "decr", "add", "rm", "get", "set", "options", "globaloptions", "signal", "kill", "stats", "dstats",
		"listsockets", "reloadconfig", "quit", "events", "top"} {
		if !strings.Contains(r.stdout, "\n  "+name+" ") {
			t.Errorf("--help does not list %q", name)
		}
	}
	// add's help says what add does (it used to show only the --waiting
	// sentence) and does not advise a -- that would reach the worker.
	if r := poolctl(t, "add", "--help"); strings.Contains(r.stdout, "use -- before") || !strings.Contains(r.stdout, "-- included") {
		t.Errorf("add --help: %s", r.stdout)
	}
	// Help gaps of the r58 cli trial: circusctl's kill flags worked but no
	// help named them; status did not say what a one-shot shows.
	if r := poolctl(t, "kill", "--help"); !strings.Contains(r.stdout, "--signum for --signal") || !strings.Contains(r.stdout, "--graceful-timeout 0") {
		t.Errorf("kill --help names neither circusctl's flags nor an example: %s", r.stdout)
	}
	if r := poolctl(t, "status", "--help"); strings.Count(r.stdout, "A one-shot") != 2 {
		t.Errorf("status --help does not say how a one-shot shows as stopped and failed: %s", r.stdout)
	}
	// Completion of option keys works without poold.
	r = poolctl(t, "--endpoint", missingEndpoint(t), "__complete", "get", "web", "num")
	if r.code != 0 || !strings.Contains(r.stdout, "numprocesses") {
		t.Errorf("completing get keys: %v", r)
	}
}

func TestUnreachable(t *testing.T) {
	ep := missingEndpoint(t)
	want := "poolctl: Cannot reach poold at " + ep + " (no such socket: is poold running? set --endpoint or POOLCTL_ENDPOINT)\n"
	for _, args := range [][]string{{"--endpoint", ep, "status"}, {"--endpoint", ep, "--waiting", "stop", "web"}, {"--endpoint", ep, "events"}, {"--endpoint", ep, "top"}} {
		r := poolctl(t, args...)
		if r.code != exitUnreachable || r.stderr != want {
			t.Errorf("%v: want exit 3 and %q, got %v", args, want, r)
		}
		if r.took > 2*time.Second {
			t.Errorf("%v: took %v to notice the missing socket", args, r.took)
		}
	}

	t.Run("from POOLCTL_ENDPOINT", func(t *testing.T) {
		t.Setenv("POOLCTL_ENDPOINT", ep)
		r := poolctl(t, "list")
		if r.code != exitUnreachable || r.stderr != want {
			t.Errorf("want exit 3 and %q, got %v", want, r)
		}
	})

	// circusctl's variable, read after poolctl's own.
	t.Run("from CIRCUSCTL_ENDPOINT", func(t *testing.T) {
		t.Setenv("POOLCTL_ENDPOINT", "")
		t.Setenv("CIRCUSCTL_ENDPOINT", ep)
		if r := poolctl(t, "list"); r.code != exitUnreachable || r.stderr != want {
			t.Errorf("want exit 3 and %q, got %v", want, r)
		}
		t.Setenv("CIRCUSCTL_ENDPOINT", "foo://bar")
		if r := poolctl(t, "list"); r.code != exitUsage || !strings.HasPrefix(r.stderr, `poolctl: CIRCUSCTL_ENDPOINT=foo://bar: transport "foo"`) {
			t.Errorf("want exit 2 naming CIRCUSCTL_ENDPOINT, got %v", r)
		}
		t.Setenv("POOLCTL_ENDPOINT", ep)
		if r := poolctl(t, "list"); r.code != exitUnreachable || r.stderr != want {
			t.Errorf("POOLCTL_ENDPOINT must win over CIRCUSCTL_ENDPOINT: want exit 3 and %q, got %v", want, r)
		}
	})

	// A regular file was called "a stale socket file, poold is not
	// running" (r58 cli trial, L3).
	t.Run("a regular file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "poold.toml")
		if err := os.WriteFile(path, []byte("[arbiter]\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		r := poolctl(t, "--endpoint", "ipc://"+path, "status")
		if r.code != exitUnreachable || !strings.Contains(r.stderr, "(connection refused: a regular file, not a socket: check --endpoint or POOLCTL_ENDPOINT") {
			t.Errorf("want exit 3 saying the endpoint is a regular file, got %v", r)
		}
	})

	t.Run("stale socket file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "stale.sock")
		staleSocket(t, path)
		r := poolctl(t, "--endpoint", "ipc://"+path, "status")
		if r.code != exitUnreachable || !strings.Contains(r.stderr, "Cannot reach poold at ipc://"+path+" (") ||
			!strings.Contains(r.stderr, "refused") {
			t.Errorf("want exit 3 and connection refused, got %v", r)
		}
	})

	t.Run("tcp nobody listening", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		r := poolctl(t, "--endpoint", "tcp://"+addr, "status")
		if r.code != exitUnreachable || !strings.Contains(r.stderr, "Cannot reach poold at tcp://"+addr+" (connection refused: is poold running? set --endpoint or POOLCTL_ENDPOINT)") {
			t.Errorf("want exit 3 and connection refused, got %v", r)
		}
	})
}

// staleSocket leaves a unix socket file that nobody listens on, as a
// crashed poold would.
func staleSocket(t testing.TB, path string) {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
}

// fakePoold is a ROUTER that records requests and answers with answer
// (nil = never answer).
type fakePoold struct {
	endpoint string
	mu       sync.Mutex
	reqs     []map[string]any
}

func startFake(t testing.TB, answer func(req map[string]any) map[string]any) *fakePoold {
	t.Helper()
	f := &fakePoold{endpoint: "ipc://" + filepath.Join(t.TempDir(), "fake.sock")}
	sock := zmq4.NewRouter(context.Background())
	if err := sock.Listen(f.endpoint); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			msg, err := sock.Recv()
			if err != nil {
				return
			}
			if len(msg.Frames) != 2 {
				continue
			}
			var req map[string]any
			if json.Unmarshal(msg.Frames[1], &req) != nil {
				continue
			}
			f.mu.Lock()
			f.reqs = append(f.reqs, req)
			f.mu.Unlock()
			if answer == nil {
				continue
			}
			rep := answer(req)
			rep["id"] = req["id"]
			b, _ := json.Marshal(rep)
			_ = sock.Send(zmq4.NewMsgFrom(msg.Frames[0], b))
		}
	}()
	t.Cleanup(func() {
		sock.Close()
		<-done
	})
	return f
}

func (f *fakePoold) requests() []map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]map[string]any(nil), f.reqs...)
}

func TestTimeout(t *testing.T) {
	f := startFake(t, nil)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--timeout", "300ms", "stop", "web"},
			"poolctl: timed out after 300ms waiting for 'stop web' (still in progress on poold)\n"},
		{[]string{"--timeout", "0.3", "incr", "web", "2"},
			"poolctl: timed out after 300ms waiting for 'incr web 2' (still in progress on poold)\n"},
		{[]string{"--timeout", "300ms", "status"},
			"poolctl: timed out after 300ms waiting for 'status' (poold did not answer; is it stuck? raise --timeout)\n"},
	}
	for _, tc := range tests {
		r := poolctl(t, append([]string{"--endpoint", f.endpoint}, tc.args...)...)
		if r.code != exitUnreachable || r.stderr != tc.want {
			t.Errorf("%v: want exit 3 and %q, got %v", tc.args, tc.want, r)
		}
		if r.took < 300*time.Millisecond || r.took > 10*time.Second {
			t.Errorf("%v: gave up after %v, want about 300ms", tc.args, r.took)
		}
	}
	// The default is 5s; with --waiting 2m; for a waited reload, which
	// replaces every worker in batches, an hour. Check the values, not
	// the clock.
	for w, want := range map[waitMode]time.Duration{noWait: 5 * time.Second, waitWork: 2 * time.Minute, waitReload: time.Hour} {
		if got := (&app{}).timeoutFor(w); got != want {
			t.Errorf("default timeout for wait mode %d: %v, want %v", w, got, want)
		}
	}
}

func TestInterrupted(t *testing.T) {
	t.Parallel()
	f := startFake(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb bytes.Buffer
	done := make(chan int)
	args := []string{"--endpoint", f.endpoint, "--pubsub-endpoint", missingEndpoint(t), "--waiting", "stop", "web"}
	go func() {
		done <- run(ctx, args, &out, &errb)
	}()
	proctest.Poll(10*time.Second, func() bool { return len(f.requests()) > 0 })
	cancel()
	code := <-done
	if code != exitInterrupted || !strings.Contains(errb.String(), "interrupted while waiting for 'stop web' (still in progress on poold)") {
		t.Errorf("got exit %d, stderr %q", code, errb.String())
	}
	if !strings.HasPrefix(errb.String(), "waiting for 'stop web'...\n") {
		t.Errorf("--waiting should say what it waits for first: %q", errb.String())
	}
}

// TestRequests checks the positional forms against the properties sent,
// using a fake poold that echoes each request.
func TestRequests(t *testing.T) {
	t.Parallel()
	f := startFake(t, func(req map[string]any) map[string]any { return map[string]any{"status": "ok"} })
	tests := []struct {
		args    []string
		command string
		props   map[string]any
	}{
		{[]string{"list"}, "list", nil},
		{[]string{"list", "web"}, "list", map[string]any{"name": "web"}},
		{[]string{"status", "web"}, "status", map[string]any{"name": "web"}},
		{[]string{"numwatchers"}, "numwatchers", nil},
		{[]string{"numprocesses", "web"}, "numprocesses", map[string]any{"name": "web"}},
		{[]string{"start"}, "start", nil},
		{[]string{"stop", "web"}, "stop", map[string]any{"name": "web"}},
		{[]string{"--waiting", "--pubsub-endpoint", "ipc:///nonexistent/p.sock", "restart", "web"}, "restart", map[string]any{"name": "web", "waiting": true}},
		{[]string{"reload", "web", "--terminate"}, "reload", map[string]any{"name": "web", "graceful": false, "sequential": false, "waiting": true}},
		{[]string{"reload", "--sequential"}, "reload", map[string]any{"graceful": true, "sequential": true, "waiting": true}},
		{[]string{"reload", "web", "--no-wait"}, "reload", map[string]any{"name": "web", "graceful": true, "sequential": false}},
		{[]string{"incr", "web"}, "incr", map[string]any{"name": "web", "nb": 1.0}},
		{[]string{"incr", "web", "2"}, "incr", map[string]any{"name": "web", "nb": 2.0}},
		{[]string{"decr", "web", "3"}, "decr", map[string]any{"name": "web", "nb": 3.0}},
		{[]string{"add", "--start", "api", "python3", "-m", "http.server", "--bind", "127.0.0.1"}, "add",
			map[string]any{"name": "api", "cmd": "python3", "start": true, "args": []any{"-m", "http.server", "--bind", "127.0.0.1"}}},
		{[]string{"add", "api", "sleep"}, "add", map[string]any{"name": "api", "cmd": "sleep", "start": false}},
		// After CMD everything is the worker's, a -- too (the help says so).
		{[]string{"add", "sh", "/bin/sh", "--", "-c", "true"}, "add",
			map[string]any{"name": "sh", "cmd": "/bin/sh", "start": false, "args": []any{"--", "-c", "true"}}},
		{[]string{"rm", "web", "--nostop"}, "rm", map[string]any{"name": "web", "nostop": true}},
		{[]string{"get", "web", "numprocesses", "cmd"}, "get", map[string]any{"name": "web", "keys": []any{"numprocesses", "cmd"}}},
		{[]string{"set", "web", "numprocesses", "8"}, "set", map[string]any{"name": "web", "options": map[string]any{"numprocesses": 8.0}}},
		{[]string{"set", "web", "graceful_timeout", "30s", "args", `["1","2"]`}, "set",
			map[string]any{"name": "web", "options": map[string]any{"graceful_timeout": "30s", "args": []any{"1", "2"}}}},
		// A VALUE that begins with "-" is a value, not a flag (circusctl
		// reads -5 so too); poolctl's flags still work around it.
		{[]string{"set", "web", "nice", "-5"}, "set", map[string]any{"name": "web", "options": map[string]any{"nice": -5.0}}},
		{[]string{"--timeout", "3", "set", "web", "priority", "-1", "oom_score_adj", "-100"}, "set",
			map[string]any{"name": "web", "options": map[string]any{"priority": -1.0, "oom_score_adj": -100.0}}},
		{[]string{"set", "web", "args", "-c", "stop_signal", "INT", "--waiting", "--pubsub-endpoint", "ipc:///nonexistent/p.sock"}, "set",
			map[string]any{"name": "web", "options": map[string]any{"args": "-c", "stop_signal": "INT"}, "waiting": true}},
		{[]string{"set", "web", "nice", "--", "-5"}, "set", map[string]any{"name": "web", "options": map[string]any{"nice": -5.0}}},
		// args and cmd are command-line words: "200" stays the word 200
		// (as circusctl sends it), not the number the wire refuses.
		{[]string{"set", "web", "args", "200", "cmd", "true"}, "set",
			map[string]any{"name": "web", "options": map[string]any{"args": "200", "cmd": "true"}}},
		{[]string{"options", "web"}, "options", map[string]any{"name": "web"}},
		{[]string{"globaloptions"}, "globaloptions", nil},
		{[]string{"globaloptions", "pubsub_endpoint"}, "globaloptions", map[string]any{"option": "pubsub_endpoint"}},
		{[]string{"signal", "web", "HUP"}, "signal", map[string]any{"name": "web", "signum": "HUP", "children": false, "recursive": false}},
		{[]string{"signal", "web", "1234", "USR1", "--recursive"}, "signal", map[string]any{"name": "web", "pid": 1234.0, "signum": "USR1", "children": false, "recursive": true}},
		{[]string{"kill", "web"}, "kill", map[string]any{"name": "web"}},
		{[]string{"kill", "web", "--graceful-timeout", "0"}, "kill", map[string]any{"name": "web", "graceful_timeout": 0.0}},
		{[]string{"kill", "web", "--graceful-timeout", "0s"}, "kill", map[string]any{"name": "web", "graceful_timeout": 0.0}},
		{[]string{"kill", "web", "77", "--signal", "KILL", "--graceful-timeout", "2.5s"}, "kill",
			map[string]any{"name": "web", "pid": 77.0, "signum": "KILL", "graceful_timeout": 2.5}},
		// circusctl's spellings of kill's flags, and its --match.
		{[]string{"kill", "web", "--signum", "9", "--graceful_timeout", "3"}, "kill",
			map[string]any{"name": "web", "signum": "9", "graceful_timeout": 3.0}},
		{[]string{"restart", "web-.*", "--match", "regex"}, "restart", map[string]any{"name": "web-.*", "match": "regex", "waiting": true}},
		{[]string{"restart", "web", "--no-wait"}, "restart", map[string]any{"name": "web"}},
		{[]string{"stats"}, "stats", nil},
		{[]string{"stats", "web"}, "stats", map[string]any{"name": "web"}},
		{[]string{"stats", "web", "77", "--extended"}, "stats", map[string]any{"name": "web", "process": 77.0, "extended": true}},
		{[]string{"dstats"}, "dstats", nil},
		{[]string{"listsockets"}, "listsockets", nil},
		{[]string{"reloadconfig"}, "reloadconfig", map[string]any{"waiting": true}},
		{[]string{"--waiting", "reloadconfig"}, "reloadconfig", map[string]any{"waiting": true}},
		{[]string{"reloadconfig", "--no-wait"}, "reloadconfig", nil},
		{[]string{"quit"}, "quit", nil},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			before := len(f.requests())
			r := poolctl(t, append([]string{"--endpoint", f.endpoint}, tc.args...)...)
			if r.code != 0 {
				t.Fatalf("%v", r)
			}
			reqs := f.requests()[before:]
			if len(reqs) == 0 {
				t.Fatal("no request reached the fake poold")
			}
			got := reqs[len(reqs)-1]
			if got["command"] != tc.command {
				t.Errorf("command %v, want %s", got["command"], tc.command)
			}
			props, _ := got["properties"].(map[string]any)
			if len(props) == 0 {
				props = nil
			}
			if diff := cmp.Diff(tc.props, props); diff != "" {
				t.Errorf("properties (-want +got):\n%s", diff)
			}
		})
	}
}

func TestErrorReply(t *testing.T) {
	t.Parallel()
	f := startFake(t, func(req map[string]any) map[string]any {
		return map[string]any{"status": "error", "reason": "program nope not found (known: web)", "errno": 3}
	})
	r := poolctl(t, "--endpoint", f.endpoint, "incr", "nope")
	if r.code != exitReplyError || r.stderr != "poolctl: program nope not found (known: web)\n" || r.stdout != "" {
		t.Errorf("want exit 1 with the reason, got %v", r)
	}
	r = poolctl(t, "--endpoint", f.endpoint, "--json", "incr", "nope")
	if r.code != exitReplyError || r.stderr != "poolctl: program nope not found (known: web)\n" {
		t.Errorf("--json error reply: want exit 1 with the reason, got %v", r)
	}
	var raw map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &raw); err != nil || raw["errno"] != 3.0 {
		t.Errorf("--json should print the raw reply: %q (%v)", r.stdout, err)
	}
}

func TestStatusQuirk(t *testing.T) {
	t.Parallel()
	// "status NAME" answers with the watcher's status in "status".
	f := startFake(t, func(req map[string]any) map[string]any { return map[string]any{"status": "stopped"} })
	r := poolctl(t, "--endpoint", f.endpoint, "status", "web")
	if r.code != 0 || r.stdout != "stopped\n" {
		t.Errorf("want exit 0 and 'stopped', got %v", r)
	}
}

// TestAddWarnsOfPoolctlFlagsAfterCmd: a flag of poolctl after CMD goes
// to the worker (add's words after CMD are its command line), so
// circusctl's form `add web CMD --start` added a stopped watcher without
// a word; poolctl now says so on stderr and still sends what was asked.
func TestAddWarnsOfPoolctlFlagsAfterCmd(t *testing.T) {
	t.Parallel()
	f := startFake(t, func(req map[string]any) map[string]any { return map[string]any{"status": "ok"} })
	r := poolctl(t, "--endpoint", f.endpoint, "add", "web", "sleep", "10", "--start")
	want := "poolctl: warning: --start comes after CMD, so it is an argument of the worker, not a flag of poolctl; put poolctl's flags before NAME (poolctl add --start web ...)\n"
	if r.code != 0 || r.stderr != want {
		t.Errorf("want exit 0 and %q, got %v", want, r)
	}
	reqs := f.requests()
	props, _ := reqs[len(reqs)-1]["properties"].(map[string]any)
	if diff := cmp.Diff(map[string]any{"name": "web", "cmd": "sleep", "start": false, "args": []any{"10", "--start"}}, props); diff != "" {
		t.Errorf("properties (-want +got):\n%s", diff)
	}
	// The worker's own flags are no concern of poolctl's.
	r = poolctl(t, "--endpoint", f.endpoint, "add", "--start", "api", "python3", "-m", "http.server", "--bind", "127.0.0.1")
	if r.code != 0 || r.stderr != "" {
		t.Errorf("want exit 0 and no warning, got %v", r)
	}
}
