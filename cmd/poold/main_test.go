package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/arbiter/controller/ctlclient"
	"github.com/poold/poold/watcher/proctest"
	"github.com/poold/poold/watcher/spawn"
	"github.com/poold/poold/watcher/workertest"
)

// asPoold makes the test binary run poold's main (helper-process pattern).
const asPoold = "POOLD_TEST_AS_POOLD"

func TestMain(m *testing.M) {
	spawn.RunShimIfRequested()
	workertest.Main()
	ctlPeerMain()
	if os.Getenv(asPoold) == "1" {
		if fifo := os.Getenv(holdStart); fifo != "" {
			startHold = func() { holdOn(fifo) }
		}
		dropRoot(os.Getenv(asUID))
		os.Args = append([]string{"poold"}, strings.Fields(os.Getenv("POOLD_TEST_ARGS"))...)
		main()
	}
	workertest.QuickRaceExits()
	code := m.Run()
	removeBinDirs()
	os.Exit(code)
}

const hang = 30 * time.Second

// proc is a poold started by a test.
type proc struct {
	t    testing.TB
	cmd  *exec.Cmd
	log  *lockedBuffer
	done chan struct{}
	err  error
	dir  string
	cfg  string
}

// lockedBuffer is a log sink safe to read while the process under test writes.
type lockedBuffer = workertest.Buffer

// config writes a TOML config where @WORKER@ stands for this test binary and
// ENDPOINTS for private ipc endpoints. A worker env list that starts with
// its workertest mode gets the test's GORACE first (QuickRaceExits: no
// exit sleep): without it each such worker, the -race test binary,
// exec'd itself a second time to drop the sleep (quickRaceExit), ~0.16 s
// of CPU a start.
func writeConfig(t testing.TB, dir, text string) string {
	t.Helper()
	text = strings.ReplaceAll(text, "@WORKER@", strconv.Quote(os.Args[0]))
	if race := os.Getenv("GORACE"); race != "" {
		text = strings.ReplaceAll(text, `env = ["`+workertest.Env+"=",
			`env = [`+strconv.Quote("GORACE="+race)+`, "`+workertest.Env+"=")
	}
	text = strings.ReplaceAll(text, "ENDPOINTS", fmt.Sprintf(
		"endpoint = \"ipc://%s/c.sock\"\npubsub_endpoint = \"ipc://%s/e.sock\"\nstats_endpoint = \"ipc://%s/s.sock\"",
		dir, dir, dir))
	path := filepath.Join(dir, "poold.toml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func startPoold(t testing.TB, config string, flags ...string) *proc {
	t.Helper()
	return startPooldStderr(t, config, nil, flags...)
}

// startPooldStderr starts poold with its stderr going to stderr (nil: into
// p.log with its stdout).
func startPooldStderr(t testing.TB, config string, stderr io.Writer, flags ...string) *proc {
	t.Helper()
	return startPooldIn(t, t.TempDir(), config, stderr, flags...)
}

// startPooldIn starts poold on config written to dir/poold.toml: a poold
// started again in the same dir runs the same config file.
func startPooldIn(t testing.TB, dir, config string, stderr io.Writer, flags ...string) *proc {
	t.Helper()
	return startPooldUnder(t, nil, dir, config, stderr, flags...)
}

// startPooldUnder starts poold as the last argument of the command wrap
// (nil: directly), e.g. unshare.
func startPooldUnder(t testing.TB, wrap []string, dir, config string, stderr io.Writer, flags ...string) *proc {
	t.Helper()
	return launchPoold(t, wrap, dir, writeConfig(t, dir, config), stderr, flags...)
}

// launchPoold starts poold, as startPooldUnder does, on the config file
// at path as it is.
func launchPoold(t testing.TB, wrap []string, dir, path string, stderr io.Writer, flags ...string) *proc {
	t.Helper()
	argv := append(append([]string(nil), wrap...), os.Args[0])
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), asPoold+"=1", "POOLD_TEST_ARGS="+strings.Join(append(flags, path), " "))
	return launchCmd(t, cmd, dir, path, stderr)
}

// launchCmd starts cmd, which runs poold on the config file at path (this
// test binary as poold, a wrapper, a copy of it or a real poold binary),
// its output in p.log (stderr: to stderr, if not nil), and stops it and
// all it started when the test ends, if it still runs.
func launchCmd(t testing.TB, cmd *exec.Cmd, dir, path string, stderr io.Writer) *proc {
	t.Helper()
	p := &proc{t: t, cmd: cmd, log: &lockedBuffer{}, done: make(chan struct{}), dir: dir, cfg: path}
	// If this test binary dies (a timeout), poold, or the wrapper that
	// runs it (as PID 1 of its own namespace), must too: poold's workers
	// die with it (their parent-death signal), but it stayed, with ppid
	// 1, serving its workers for good.
	if p.cmd.SysProcAttr == nil {
		p.cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	p.cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	p.cmd.Stdout = p.log
	p.cmd.Stderr = p.log
	if stderr != nil {
		p.cmd.Stderr = stderr
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			// Stopped, poold spawns no worker the snapshot would miss.
			_ = p.cmd.Process.Signal(syscall.SIGSTOP)
			family := descendants(p.cmd.Process.Pid)
			killLeftovers(family)
			_ = p.cmd.Process.Signal(syscall.SIGKILL)
			<-p.done
		}
		if t.Failed() {
			t.Logf("poold (%v) log:\n%s", p.err, p.log.String())
		}
	})
	return p
}

// waitLog waits until the log matches re and returns the submatches of
// every match.
func (p *proc) waitLog(re string, n int) [][]string {
	p.t.Helper()
	rx := regexp.MustCompile(re)
	var m [][]string
	proctest.Eventually(p.t, fmt.Sprintf("%d log lines matching %q", n, re), func() bool {
		m = rx.FindAllStringSubmatch(p.log.String(), -1)
		return len(m) >= n
	})
	return m
}

func (p *proc) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
}

// wait waits for poold to exit and returns its exit code.
func (p *proc) wait() int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(hang):
		p.t.Fatalf("poold did not exit within %v", hang)
	}
	return p.cmd.ProcessState.ExitCode()
}

// exists reports whether pid has any /proc entry (zombies included).
func exists(pid int) bool {
	_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	return err == nil
}

func get(url string) (string, error) {
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

const familyConfig = `
[arbiter]
ENDPOINTS

[sockets.web]
port = 0

[watchers.web]
cmd = @WORKER@
numprocesses = 2
sockets = ["web"]
env = ["POOLD_TEST_WORKER=family"]
graceful_timeout = "%s"
`

// familyPids starts the family workers and returns their pids and their
// grandchildren's, plus the socket address.
func familyPids(t *testing.T, p *proc) (workers, children []int, addr string) {
	t.Helper()
	for _, m := range p.waitLog(`worker (\d+) serving`, 2) {
		pid, _ := strconv.Atoi(m[1])
		workers = append(workers, pid)
	}
	addr = p.waitLog(`socket bound: socket=\S+ address=(\S+)`, 1)[0][1]
	seen := map[int]bool{}
	proctest.Eventually(t, "both workers report their children", func() bool {
		body, err := get("http://" + addr + "/child")
		if err == nil {
			if c, _ := strconv.Atoi(strings.TrimSpace(body)); c > 0 {
				seen[c] = true
			}
		}
		return len(seen) == 2
	})
	for c := range seen {
		children = append(children, c)
	}
	return workers, children, addr
}

func TestSIGTERMStopsEverythingAndExitsZero(t *testing.T) {
	t.Parallel()
	p := startPoold(t, fmt.Sprintf(familyConfig, "10s"))
	workers, children, _ := familyPids(t, p)
	p.signal(syscall.SIGTERM)
	if code := p.wait(); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
	for _, pid := range workers {
		// poold reaped its own children before exiting: no zombie left.
		if exists(pid) {
			t.Errorf("worker %d still exists after poold exited", pid)
		}
	}
	for _, pid := range children {
		proctest.Eventually(t, fmt.Sprintf("grandchild %d gone", pid), func() bool { return !proctest.Alive(pid) })
	}
	if !strings.Contains(p.log.String(), "poold stopped") {
		t.Errorf("no 'poold stopped' in the log")
	}
}

func TestSIGKILLOfPooldTakesWorkersDown(t *testing.T) {
	t.Parallel()
	p := startPoold(t, fmt.Sprintf(familyConfig, "10s"))
	workers, children, _ := familyPids(t, p)
	// The workers die with poold (parent-death signal); what they started
	// themselves is theirs to stop, and with them killed it is orphaned:
	// this test stops those grandchildren itself, by pid.
	t.Cleanup(func() {
		for _, pid := range children {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	p.signal(syscall.SIGKILL)
	p.wait()
	for _, pid := range workers {
		proctest.Eventually(t, fmt.Sprintf("worker %d gone", pid), func() bool { return !proctest.Alive(pid) })
	}
}

func TestSecondSignalKillsAtOnce(t *testing.T) {
	t.Parallel()
	p := startPoold(t, `
[arbiter]
ENDPOINTS
[sockets.web]
port = 0
[watchers.stubborn]
cmd = @WORKER@
sockets = ["web"]
env = ["POOLD_TEST_WORKER=stubborn"]
graceful_timeout = "1h"
`)
	pid, _ := strconv.Atoi(p.waitLog(`worker (\d+) serving`, 1)[0][1])
	p.signal(syscall.SIGTERM)
	p.waitLog(`stopping gracefully`, 1)
	p.signal(syscall.SIGINT)
	if code := p.wait(); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
	if exists(pid) {
		t.Errorf("stubborn worker %d survived", pid)
	}
}

func TestSIGHUPWithBrokenConfigChangesNothing(t *testing.T) {
	t.Parallel()
	const cfg = `
[arbiter]
ENDPOINTS
[sockets.web]
port = 0
[watchers.web]
cmd = @WORKER@
numprocesses = %d
sockets = ["web"]
env = ["POOLD_TEST_WORKER=serve"]
`
	p := startPoold(t, fmt.Sprintf(cfg, 2))
	before := p.waitLog(`worker (\d+) serving`, 2)
	addr := p.waitLog(`socket bound: socket=\S+ address=(\S+)`, 1)[0][1]

	// A broken file: rejected, logged with the file and key, nothing changes.
	writeConfig(t, p.dir, fmt.Sprintf(cfg, -2))
	p.signal(syscall.SIGHUP)
	p.waitLog(`config reload rejected.*numprocesses`, 1)
	pids := map[string]bool{before[0][1]: true, before[1][1]: true}
	for i := 0; i < 20; i++ {
		body, err := get("http://" + addr + "/")
		if err != nil {
			t.Fatalf("request after rejected reload: %v", err)
		}
		pid := strings.TrimPrefix(strings.Fields(body)[0], "pid=")
		if !pids[pid] {
			t.Fatalf("answer from pid %s, not one of the original workers %v", pid, pids)
		}
	}
	if n := len(regexp.MustCompile(`worker \d+ serving`).FindAllString(p.log.String(), -1)); n != 2 {
		t.Fatalf("%d workers started, want still 2", n)
	}

	// A good change is applied: one more worker, the others untouched.
	writeConfig(t, p.dir, fmt.Sprintf(cfg, 3))
	p.signal(syscall.SIGHUP)
	p.waitLog(`worker (\d+) serving`, 3)
	p.waitLog(`config reloaded`, 1)
	for pid := range pids {
		n, _ := strconv.Atoi(pid)
		if !proctest.Alive(n) {
			t.Errorf("worker %s was restarted by a reload that only scaled", pid)
		}
	}
}

func TestWorkerOutputIsLoggedAsJSON(t *testing.T) {
	t.Parallel()
	p := startPoold(t, `
[arbiter]
ENDPOINTS
[watchers.crashy]
cmd = @WORKER@
env = ["POOLD_TEST_WORKER=crash"]
backoff_min = "1s"
`, "--log-format", "json")
	line := p.waitLog(`(\{[^\n]*crashing on purpose[^\n]*\})`, 1)[0][1]
	for _, want := range []string{`"watcher":"crashy"`, `"wid":1`, `"stream":"stdout"`, `"pid":`} {
		if !strings.Contains(line, want) {
			t.Errorf("log line %s lacks %s", line, want)
		}
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}

func TestCheckFlag(t *testing.T) {
	dir := t.TempDir()
	good := writeConfig(t, dir, "[watchers.web]\ncmd = \"sleep\"\nargs = [\"1\"]\n")
	var out, errb bytes.Buffer
	if code := exitCode(run(context.Background(), []string{"--check", good}, &out, &errb), &errb); code != 0 {
		t.Fatalf("--check good config: exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "ok") {
		t.Errorf("--check output %q", out.String())
	}
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte("[watchers.web]\ncmd = \"sleep\"\nnumprocesses = -1\nbogus = 1\n"), 0o644)
	errb.Reset()
	if code := exitCode(run(context.Background(), []string{"--check", bad}, &out, &errb), &errb); code != exitConfig {
		t.Fatalf("--check bad config: exit %d, want 78", code)
	}
	for _, want := range []string{"bad.toml", "watchers.web.numprocesses", "watchers.web.bogus"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("error %q lacks %q", errb.String(), want)
		}
	}
	errb.Reset()
	if code := exitCode(run(context.Background(), nil, &out, &errb), &errb); code != exitUsage {
		t.Errorf("no args: exit %d, want 64", code)
	}
}

func TestGunicornServesThroughFD(t *testing.T) {
	gunicorn, err := exec.LookPath("gunicorn")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("gunicorn is not installed (Debian package gunicorn); .ci/run installs it")
		}
		t.Skip("gunicorn not installed")
	}
	dir := t.TempDir()
	app := filepath.Join(dir, "app.py")
	os.WriteFile(app, []byte("import os\ndef app(environ, start_response):\n    start_response('200 OK', [('Content-Type', 'text/plain')])\n    return [('gunicorn pid %d' % os.getpid()).encode()]\n"), 0o644)
	for _, tc := range []struct{ name, bind string }{
		{"fd-variable", `"--bind", "fd://$(pool.sockets.web)",`},
		{"listen-fds", ``},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := startPoold(t, fmt.Sprintf(`
[arbiter]
ENDPOINTS
[sockets.web]
port = 0
[watchers.py]
cmd = %q
args = [%s "--workers", "1", "--chdir", %q, "app:app"]
sockets = ["web"]
graceful_timeout = "5s"
`, gunicorn, tc.bind, dir))
			addr := p.waitLog(`socket bound: socket=\S+ address=(\S+)`, 1)[0][1]
			var body string
			proctest.Eventually(t, "gunicorn answers", func() bool {
				body, err = get("http://" + addr + "/")
				return err == nil
			})
			if !strings.HasPrefix(body, "gunicorn pid ") {
				t.Errorf("answer %q", body)
			}
			p.signal(syscall.SIGTERM)
			if code := p.wait(); code != 0 {
				t.Fatalf("exit code %d", code)
			}
		})
	}
}

func TestGunicornNotifyReadiness(t *testing.T) {
	gunicorn, err := exec.LookPath("gunicorn")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("gunicorn is not installed (Debian package gunicorn); .ci/run installs it")
		}
		t.Skip("gunicorn not installed")
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "app.py"), []byte("def app(environ, start_response):\n    start_response('200 OK', [])\n    return [b'ok']\n"), 0o644)
	p := startPoold(t, fmt.Sprintf(`
[arbiter]
ENDPOINTS
[sockets.web]
port = 0
[watchers.py]
cmd = %q
args = ["--workers", "1", "--chdir", %q, "app:app"]
sockets = ["web"]
readiness = "notify"
ready_timeout = "20s"
graceful_timeout = "5s"
`, gunicorn, dir))
	// gunicorn's master sends READY=1 on $NOTIFY_SOCKET once it listens.
	c, err := ctlclient.DialContext(context.Background(), "ipc://"+p.dir+"/c.sock")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	proctest.Eventually(t, "gunicorn reported ready", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		r, err := c.Do(ctx, arbiter.Request{Command: "stats", Properties: map[string]any{"name": "py"}})
		if err != nil {
			return false
		}
		info, _ := r["info"].(map[string]any)
		for _, in := range info {
			if in.(map[string]any)["state"] == "ready" {
				return true
			}
		}
		return false
	})
	if strings.Contains(p.log.String(), "failed to become ready") {
		t.Errorf("a gunicorn worker missed its ready timeout")
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}
