package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/arbiter/controller/ctlclient"
	"github.com/poold/poold/watcher/proctest"
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
