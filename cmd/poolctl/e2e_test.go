package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/arbiter/controller/ctlclient"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher/proctest"
	"github.com/poold/poold/watcher/workertest"
)

// binDir holds poold and poolctl, built once per test binary.
var (
	binDir   string
	buildErr error
	building sync.Once
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	if code == 0 {
		// zmq4 ends its connection goroutines shortly after Close.
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// binaries builds poold and poolctl (once) and returns their directory.
func binaries(t testing.TB) string {
	t.Helper()
	building.Do(func() {
		dir, err := os.MkdirTemp("", "poolctl-bin")
		if err != nil {
			buildErr = err
			return
		}
		binDir = dir
		for pkg, out := range map[string]string{
			"github.com/poold/poold/cmd/poold":   "poold",
			"github.com/poold/poold/cmd/poolctl": "poolctl",
		} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(dir, out), pkg)
			// as `make build`, whose compiled packages it then shares
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if b, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binDir
}

// poold is a running poold process with its endpoints.
type poold struct {
	dir      string
	api      *apiInfo // set when poold serves the HTTPS API (startPooldAPI)
	control  string
	pubsub   string
	cmd      *exec.Cmd
	exited   chan struct{}
	logMu    sync.Mutex
	logBuf   bytes.Buffer
	waitErr  error
	stopOnce sync.Once
	stderr   *os.File // poold's stderr and stdout when set (pooldConf.stderr); else log()
}

func (p *poold) Write(b []byte) (int, error) {
	p.logMu.Lock()
	defer p.logMu.Unlock()
	return p.logBuf.Write(b)
}

func (p *poold) log() string {
	p.logMu.Lock()
	defer p.logMu.Unlock()
	return p.logBuf.String()
}

// startPoold runs poold with one watcher "web" (sleep 3600, 2 processes)
// and waits until it answers on its control endpoint. Cleanup stops it
// with SIGTERM and waits.
func startPoold(t testing.TB) *poold {
	t.Helper()
	return startPooldWith(t, pooldConf{})
}

// pooldConf adds lines to startPoold's [arbiter] and [web] sections.
type pooldConf struct {
	arbiter  string
	watchers string   // more [watchers.NAME] sections after web's
	web      string   // replaces "enabled = false"
	stderr   *os.File // poold's stderr and stdout, instead of log()
}

func startPooldWith(t testing.TB, pc pooldConf) *poold {
	t.Helper()
	bin := binaries(t)
	if pc.web == "" {
		pc.web = "enabled = false"
	}
	// A short directory: ipc paths are limited to 107 bytes.
	dir, err := os.MkdirTemp("", "pctl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	p := &poold{
		dir:     dir,
		control: "ipc://" + filepath.Join(dir, "c.sock"),
		pubsub:  "ipc://" + filepath.Join(dir, "p.sock"),
		exited:  make(chan struct{}),
		stderr:  pc.stderr,
	}
	conf := fmt.Sprintf(`
[arbiter]
endpoint = %q
pubsub_endpoint = %q
stats_endpoint = %q
log_level = "debug"
%s

[web]
%s

[watchers.web]
cmd = "sleep"
args = ["3600"]
numprocesses = 2
graceful_timeout = "5s"
%s
`, p.control, p.pubsub, "ipc://"+filepath.Join(dir, "s.sock"), pc.arbiter, pc.web, pc.watchers)
	path := filepath.Join(dir, "poold.toml")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	p.launch(t, filepath.Join(bin, "poold"), path)
	return p
}

// launch starts poold on the config at path and waits until it answers.
func (p *poold) launch(t testing.TB, exe, path string) {
	t.Helper()
	p.exited, p.stopOnce = make(chan struct{}), sync.Once{}
	p.cmd = exec.Command(exe, path)
	p.cmd.Stdout = p
	p.cmd.Stderr = p
	if p.stderr != nil {
		p.cmd.Stdout, p.cmd.Stderr = p.stderr, p.stderr
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cmd, exited := p.cmd, p.exited
	go func() {
		p.waitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() { p.stop(t) })

	// Wait until poold answers "status".
	deadline := time.NewTimer(20 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-p.exited:
			t.Fatalf("poold exited early (%v); log:\n%s", p.waitErr, p.log())
		default:
		}
		err := ping(p.control)
		if err == nil {
			return
		}
		select {
		case <-deadline.C:
			t.Fatalf("poold does not answer on its control endpoint %s after 20s (is the controller wired into cmd/poold?): %v; log:\n%s", p.control, err, p.log())
		case <-tick.C:
		}
	}
}

// restart stops poold and starts it again on the same config.
func (p *poold) restart(t testing.TB) {
	t.Helper()
	p.stop(t)
	p.launch(t, p.cmd.Path, p.cmd.Args[1])
}

func ping(endpoint string) error {
	c, err := ctlclient.Dial(endpoint)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = c.Do(ctx, arbiter.Request{Command: "status"})
	return err
}

// stop sends SIGTERM to poold (only to our pid) and waits for it.
func (p *poold) stop(t testing.TB) {
	p.stopOnce.Do(func() {
		select {
		case <-p.exited:
			return
		default:
		}
		_ = syscall.Kill(p.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(30 * time.Second):
			_ = syscall.Kill(p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.exited
			t.Errorf("poold did not stop within 30s of SIGTERM; log:\n%s", p.log())
		}
	})
}

// ctl runs poolctl in-process against p and fails the test unless it
// exits 0.
func (p *poold) ctl(t testing.TB, args ...string) result {
	t.Helper()
	r := poolctl(t, append(p.conn(), args...)...)
	if r.code != 0 {
		t.Fatalf("poolctl %s: %v", strings.Join(args, " "), r)
	}
	return r
}

// pids is `list web` as ints.
func (p *poold) pids(t testing.TB) []int {
	t.Helper()
	var out []int
	for _, f := range strings.Fields(p.ctl(t, "list", "web").stdout) {
		n, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("list web printed %q", f)
		}
		out = append(out, n)
	}
	return out
}

// waitPids polls `list web` until it shows n pids.
func (p *poold) waitPids(t testing.TB, n int) []int {
	t.Helper()
	var pids []int
	if !proctest.Poll(15*time.Second, func() bool { pids = p.pids(t); return len(pids) == n }) {
		t.Fatalf("list web: want %d pids, still %v after 15s", n, pids)
	}
	// A worker is ready 100 ms after its spawn (readiness spawn, no
	// socket): until then web is starting. The status word is the first
	// line (Circus's output); a size set by incr/decr follows it.
	if n > 0 && !proctest.Poll(15*time.Second, func() bool { return strings.HasPrefix(p.ctl(t, "status", "web").stdout, "active\n") }) {
		t.Fatalf("status web: not active 15s after its %d workers were spawned", n)
	}
	return pids
}

// conn is the poolctl flags that reach p: its control endpoint, or its
// HTTPS API when it serves one.
func (p *poold) conn() []string {
	if p.api != nil {
		return []string{"--url", p.api.url, "--token-file", p.api.operator, "--ca-file", p.api.ca}
	}
	return []string{"--endpoint", p.control}
}

func TestEndToEnd(t *testing.T) { endToEnd(t, startPoold(t)) }

// endToEnd runs every kind of command against p, over whichever
// transport p.conn names.
func endToEnd(t *testing.T, p *poold) {

	t.Run("status and list", func(t *testing.T) {
		p.waitPids(t, 2)
		if r := p.ctl(t, "status", "web"); r.stdout != "active\n" {
			t.Errorf("status web: %q", r.stdout)
		}
		// READY: the workers ready of those wanted, from the ready
		// counts poold adds to the status reply's sizes.
		if r := p.ctl(t, "status"); r.stdout != "WATCHER  STATUS  READY\nweb      active  2/2\n" {
			t.Errorf("status: %q", r.stdout)
		}
		if r := p.ctl(t, "--json", "status"); !strings.Contains(r.stdout, `"statuses":{"web":"active"}`) || !strings.Contains(r.stdout, `"ready":2`) {
			t.Errorf("status --json: %q, want Circus's statuses and poold's ready count", r.stdout)
		}
		if r := p.ctl(t, "list"); r.stdout != "web\n" {
			t.Errorf("list: %q", r.stdout)
		}
		if r := p.ctl(t, "numwatchers"); r.stdout != "1\n" {
			t.Errorf("numwatchers: %q", r.stdout)
		}
		if r := p.ctl(t, "numprocesses", "web"); r.stdout != "2\n" {
			t.Errorf("numprocesses: %q", r.stdout)
		}
		// Shell completion asks poold for the watcher names.
		if r := p.ctl(t, "__complete", "incr", ""); !strings.HasPrefix(r.stdout, "web\n") {
			t.Errorf("completing incr: %q", r.stdout)
		}
		for _, pid := range p.pids(t) {
			if !proctest.Alive(pid) {
				t.Errorf("pid %d from list web is not alive", pid)
			}
		}
	})

	t.Run("incr and decr change the live pids", func(t *testing.T) {
		if r := p.ctl(t, "incr", "web"); r.stdout != "3\n" {
			t.Errorf("incr web: %q", r.stdout)
		}
		p.waitPids(t, 3)
		r := p.ctl(t, "--waiting", "incr", "web", "2")
		if r.stdout != "5\n" {
			t.Errorf("incr web 2: %q", r.stdout)
		}
		if !strings.Contains(r.stderr, "waiting for 'incr web 2'...") {
			t.Errorf("--waiting progress: %q", r.stderr)
		}
		if pids := p.pids(t); len(pids) != 5 {
			t.Errorf("after a waiting incr web 2: pids %v, want 5", pids)
		}
		if r := p.ctl(t, "--waiting", "decr", "web", "3"); r.stdout != "2\n" {
			t.Errorf("decr web 3: %q", r.stdout)
		}
		if pids := p.pids(t); len(pids) != 2 {
			t.Errorf("after a waiting decr web 3: pids %v, want 2", pids)
		}
	})

	t.Run("stats", func(t *testing.T) {
		pids := p.pids(t)
		r := p.ctl(t, "stats", "web")
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if len(lines) != 3 || !strings.HasPrefix(lines[0], "PID ") ||
			!strings.Contains(lines[0], "WID  STATE") || !strings.Contains(lines[0], "RESTARTS") {
			t.Fatalf("stats web:\n%s", r.stdout)
		}
		for _, pid := range pids {
			if !strings.Contains(r.stdout, "\n"+strconv.Itoa(pid)+" ") {
				t.Errorf("stats web lacks pid %d:\n%s", pid, r.stdout)
			}
		}
		r = p.ctl(t, "--json", "stats", "web")
		var rep struct {
			Name string                    `json:"name"`
			Info map[string]map[string]any `json:"info"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
			t.Fatalf("--json stats web: %v\n%s", err, r.stdout)
		}
		if rep.Name != "web" || len(rep.Info) != 2 {
			t.Errorf("--json stats web: %s", r.stdout)
		}
		for pid, info := range rep.Info {
			for _, k := range []string{"pid", "wid", "cpu", "mem", "mem_info1", "age", "state", "restarts", "cmdline"} {
				if _, ok := info[k]; !ok {
					t.Errorf("stats info of %s lacks %q: %v", pid, k, info)
				}
			}
		}
		r = p.ctl(t, "stats")
		if !strings.HasPrefix(r.stdout, "WATCHER  PID") || strings.Count(r.stdout, "\nweb ") != 2 {
			t.Errorf("stats:\n%s", r.stdout)
		}
		r = p.ctl(t, "stats", "web", strconv.Itoa(pids[0]))
		if strings.Count(strings.TrimSpace(r.stdout), "\n") != 1 {
			t.Errorf("stats web %d:\n%s", pids[0], r.stdout)
		}
		if r := p.ctl(t, "dstats"); !strings.Contains(r.stdout, "name") || !strings.Contains(r.stdout, "poold") {
			t.Errorf("dstats:\n%s", r.stdout)
		}
	})

	t.Run("listsockets options globaloptions", func(t *testing.T) {
		if r := p.ctl(t, "listsockets"); r.stdout != "FD  NAME  ADDRESS  BACKLOG  QUEUE\n" {
			t.Errorf("listsockets: %q", r.stdout)
		}
		if r := p.ctl(t, "--json", "listsockets"); !strings.Contains(r.stdout, `"sockets":[]`) {
			t.Errorf("--json listsockets: %q", r.stdout)
		}
		r := p.ctl(t, "options", "web")
		if !strings.Contains(r.stdout, "\nnumprocesses ") || !regexp.MustCompile(`(?m)^args +3600$`).MatchString(r.stdout) {
			t.Errorf("options web:\n%s", r.stdout)
		}
		if r := p.ctl(t, "get", "web", "cmd", "numprocesses"); r.stdout != "cmd           sleep\nnumprocesses  2\n" {
			t.Errorf("get web: %q", r.stdout)
		}
		if r := p.ctl(t, "globaloptions", "pubsub_endpoint"); r.stdout != "pubsub_endpoint  "+p.pubsub+"\n" {
			t.Errorf("globaloptions pubsub_endpoint: %q", r.stdout)
		}
	})

	t.Run("error reply exits 1", func(t *testing.T) {
		r := poolctl(t, append(p.conn(), "incr", "nope")...)
		if r.code != exitReplyError || !strings.Contains(r.stderr, "nope") || !strings.Contains(r.stderr, "not found") {
			t.Errorf("incr nope: %v", r)
		}
		r = poolctl(t, append(p.conn(), "get", "web", "nosuchkey")...)
		if r.code != exitReplyError {
			t.Errorf("get web nosuchkey: %v", r)
		}
	})

	t.Run("events prints a spawn after incr", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		out := &syncBuffer{}
		var errb bytes.Buffer
		done := make(chan int, 1)
		go func() { done <- run(ctx, append(p.conn(), "events", "watcher.web."), out, &errb) }()
		// The subscription takes effect shortly after connecting, so an
		// incr may come too early to be seen: repeat until one is.
		deadline := time.Now().Add(20 * time.Second)
		incrs := 0
		spawn := events.WatcherTopic("web", events.KindSpawn)
		for !strings.Contains(out.String(), spawn+" pid=") {
			if time.Now().After(deadline) {
				cancel()
				t.Fatalf("no spawn event after %d incr; events printed %q, stderr %q", incrs, out.String(), errb.String())
			}
			p.ctl(t, "incr", "web")
			incrs++
			proctest.Poll(time.Second, func() bool { return strings.Contains(out.String(), spawn) })
		}
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("events exited %d after Ctrl-C, want 0; stderr %q", code, errb.String())
		}
		p.ctl(t, "--waiting", "decr", "web", strconv.Itoa(incrs))
		p.waitPids(t, 2)
	})

	t.Run("stop start restart", func(t *testing.T) {
		old := p.pids(t)
		r := p.ctl(t, "--waiting", "stop", "web")
		if !strings.Contains(r.stdout, "stopped:  "+joinInts(old)+"\n") {
			t.Errorf("stop --waiting: %q (pids were %v)", r.stdout, old)
		}
		if !strings.HasPrefix(r.stderr, "waiting for 'stop web'...\n") {
			t.Errorf("stop --waiting progress: %q", r.stderr)
		}
		t.Logf("stop --waiting progress:\n%s", r.stderr)
		for _, pid := range old {
			if proctest.Alive(pid) {
				t.Errorf("pid %d alive after a waiting stop", pid)
			}
		}
		if r := p.ctl(t, "status", "web"); r.stdout != "stopped\n" {
			t.Errorf("status after stop: %q", r.stdout)
		}
		if pids := p.pids(t); len(pids) != 0 {
			t.Errorf("list after stop: %v", pids)
		}
		r = p.ctl(t, "--waiting", "start", "web")
		started := p.pids(t)
		if len(started) != 2 || !strings.Contains(r.stdout, "started:  "+joinInts(started)+"\n") {
			t.Errorf("start --waiting: %q; list %v", r.stdout, started)
		}
		if r := p.ctl(t, "status", "web"); r.stdout != "active\n" {
			t.Errorf("status after start: %q", r.stdout)
		}
		// restart waits by default, as reload does: its "ok" after half
		// a second, the workers still stopping, made a deploy script's
		// smoke test run against no worker. It says what it waits for.
		r = p.ctl(t, "restart", "web")
		now := p.pids(t)
		if !strings.Contains(r.stdout, "stopped:  "+joinInts(started)+"\n") || !strings.Contains(r.stdout, "started:  "+joinInts(now)+"\n") {
			t.Errorf("restart (waited by default): %q; before %v, after %v", r.stdout, started, now)
		}
		header := "waiting for 'restart web' (its workers stop, then new ones start: none serves in between; 'poolctl reload web' replaces them without that gap)...\n"
		if !strings.HasPrefix(r.stderr, header) {
			t.Errorf("restart progress should say what a restart does first: %q", r.stderr)
		}
		if r := p.ctl(t, "restart", "--no-wait", "web"); r.stdout != "ok\n" || r.stderr != "" {
			t.Errorf("restart --no-wait: %v", r)
		}
		p.waitPids(t, 2)
		if r := p.ctl(t, "stop", "web"); r.stdout != "ok\n" {
			t.Errorf("stop without waiting: %q", r.stdout)
		}
		p.waitPids(t, 0)
		p.ctl(t, "start", "web")
		p.waitPids(t, 2)
	})

	t.Run("set and signal", func(t *testing.T) {
		p.ctl(t, "--waiting", "set", "web", "numprocesses", "3")
		p.waitPids(t, 3)
		if r := p.ctl(t, "get", "web", "numprocesses"); r.stdout != "numprocesses  3\n" {
			t.Errorf("get after set: %q", r.stdout)
		}
		if r := p.ctl(t, "signal", "web", "CONT"); r.stdout != "ok\n" {
			t.Errorf("signal web CONT: %q", r.stdout)
		}
	})

	t.Run("top one frame", func(t *testing.T) {
		r := p.ctl(t, "top", "-n", "1")
		if !strings.HasPrefix(r.stdout, "poold top ") || !strings.Contains(r.stdout, "\nweb  active  3 processes") {
			t.Errorf("top -n 1:\n%s", r.stdout)
		}
	})

	t.Run("quit", func(t *testing.T) {
		pids := p.pids(t)
		p.ctl(t, "--waiting", "quit")
		select {
		case <-p.exited:
		case <-time.After(30 * time.Second):
			t.Fatalf("poold still running 30s after quit; log:\n%s", p.log())
		}
		if p.waitErr != nil {
			t.Errorf("poold exit after quit: %v", p.waitErr)
		}
		for _, pid := range pids {
			if proctest.Alive(pid) {
				t.Errorf("worker %d survived quit", pid)
			}
		}
	})
}

func joinInts(ns []int) string {
	s := append([]int(nil), ns...)
	sort.Ints(s)
	parts := make([]string, len(s))
	for i, n := range s {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, " ")
}

// syncBuffer is a log sink safe to read while the process under test writes.
type syncBuffer = workertest.Buffer

// BenchmarkPoolctlStatus50 is BenchmarkPoolctlStatus with 50 watchers of
// 2 workers each: the READY column costs one stats request for all of
// them, not one per watcher.
func BenchmarkPoolctlStatus50(b *testing.B) {
	var more strings.Builder
	for i := range 49 {
		fmt.Fprintf(&more, "[watchers.w%02d]\ncmd = \"sleep\"\nargs = [\"3600\"]\nnumprocesses = 2\n", i)
	}
	p := startPooldWith(b, pooldConf{watchers: more.String()})
	bin := filepath.Join(binaries(b), "poolctl")
	for b.Loop() {
		out, err := exec.Command(bin, "--endpoint", p.control, "status").CombinedOutput()
		if err != nil || strings.Count(string(out), "\n") != 51 {
			b.Fatalf("poolctl status: %v\n%s", err, out)
		}
	}
}

// BenchmarkPoolctlStatus runs the built poolctl binary as a whole process
// (`poolctl status`) against a running poold: start-up, connect, one
// round trip, print, exit.
func BenchmarkPoolctlStatus(b *testing.B) {
	p := startPoold(b)
	bin := filepath.Join(binaries(b), "poolctl")
	for b.Loop() {
		out, err := exec.Command(bin, "--endpoint", p.control, "status").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "web") {
			b.Fatalf("poolctl status: %v\n%s", err, out)
		}
	}
}
