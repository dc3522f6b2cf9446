package web

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/watcher/proctest"
	"github.com/poold/poold/watcher/workertest"

	"github.com/chromedp/chromedp"
)

// syncBuffer is a log sink safe to read while the process under test writes.
type syncBuffer = workertest.Buffer

// startPoold builds cmd/poold (or uses $POOLD_BIN) and runs it on a config
// with the console on 127.0.0.1 and one watcher of sleepers.
func startPoold(t *testing.T, numprocesses int) (consoleURL string) {
	t.Helper()
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	return startPooldWith(t, fmt.Sprintf(`
[watchers.sleepers]
cmd = %q
args = ["3600"]
numprocesses = %d
graceful_timeout = "2s"
`, sleep, numprocesses))
}

// startPooldWith runs poold with the console on 127.0.0.1 and the given
// [watchers.*] sections.
func startPooldWith(t *testing.T, watchers string) (consoleURL string) {
	url, _ := startRestartablePoold(t, watchers)
	return url
}

// startRestartablePoold is startPooldWith that also returns restart: it
// stops that poold (SIGTERM) and starts a new one on the same config and
// console address.
func startRestartablePoold(t *testing.T, watchers string) (consoleURL string, restart func()) {
	t.Helper()
	dir := t.TempDir()
	bin := pooldBinary(t)
	port := proctest.FreePort(t)
	cfg := fmt.Sprintf(`
[arbiter]
endpoint = "ipc://%[1]s/control.sock"
pubsub_endpoint = "ipc://%[1]s/pubsub.sock"
stats_endpoint = "ipc://%[1]s/stats.sock"
stats_interval = "500ms"

[web]
enabled = true
address = "127.0.0.1:%[2]d"
%[3]s`, dir, port, watchers)
	path := filepath.Join(dir, "poold.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	consoleURL = "http://127.0.0.1:" + strconv.Itoa(port)
	stop := runPoold(t, bin, path, consoleURL)
	var once sync.Once
	t.Cleanup(func() { once.Do(stop) })
	return consoleURL, func() {
		t.Helper()
		once.Do(stop)
		stop = runPoold(t, bin, path, consoleURL)
		once = sync.Once{}
	}
}

var (
	buildOnce sync.Once
	builtBin  string
	builtDir  string
	buildErr  error
)

// pooldBinary is $POOLD_BIN, or cmd/poold built once for this test run as
// `make build` builds it (CGO_ENABLED=0, which shares its compiled
// packages): each test that started poold built it again, nine links a
// run. TestMain removes the directory (removeBuilt).
func pooldBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("POOLD_BIN"); bin != "" {
		return bin
	}
	buildOnce.Do(func() {
		builtDir, buildErr = os.MkdirTemp("", "poold-web-bin-")
		if buildErr != nil {
			return
		}
		builtBin = filepath.Join(builtDir, "poold")
		build := exec.Command("go", "build", "-o", builtBin, "./cmd/poold")
		build.Dir = ".."
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/poold: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// removeBuilt removes what pooldBinary built, once every test has run.
func removeBuilt() {
	if builtDir != "" {
		_ = os.RemoveAll(builtDir)
	}
}

// runPoold starts bin on config path and waits for its console at
// consoleURL; stop ends it with SIGTERM and waits.
func runPoold(t *testing.T, bin, path, consoleURL string) (stop func()) {
	t.Helper()
	var log syncBuffer
	cmd := exec.Command(bin, path)
	cmd.Stdout, cmd.Stderr = &log, &log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop = func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-exited
			t.Errorf("poold did not stop within 15s of SIGTERM\n%s", log.String())
		}
		if t.Failed() {
			t.Logf("poold log:\n%s", log.String())
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(consoleURL + "/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return stop
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("poold exited before its console came up: %v\n%s", err, log.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("poold's console not up on %s within 20s (is [web] wired in cmd/poold?)\n%s", consoleURL, log.String())
		}
	}
}

// TestBrowserRealPoold drives the console of a real poold binary.
func TestBrowserRealPoold(t *testing.T) {
	url := startPoold(t, 3) // first: the browser's deadline must not count the build
	ctx := newBrowser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(url+"/")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "sleepers with 3 processes", rowsExpr("sleepers", 3))

	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`article[data-watcher="sleepers"] button[data-act="incr"]`))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "4 rows after incr", rowsExpr("sleepers", 4))
	waitJS(t, ctx, "the incr outcome", `[...document.querySelectorAll('.toast')].some(e => e.dataset.ok === '1' && e.textContent.includes('incr'))`)

	pidStr, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('article[data-watcher="sleepers"] tr[data-wid="1"]').dataset.pid`))
	if err != nil {
		t.Fatal(err)
	}
	victim, err := strconv.Atoi(pidStr)
	if err != nil || victim <= 1 {
		t.Fatalf("pid of wid 1: %q", pidStr)
	}
	if err := killPid(victim); err != nil {
		t.Fatalf("kill %d: %v", victim, err)
	}
	waitJS(t, ctx, "wid 1 with a new pid", fmt.Sprintf(`(() => {
		const r = document.querySelector('article[data-watcher="sleepers"] tr[data-wid="1"]');
		return r && r.dataset.pid !== '%d' && !document.querySelector('tr[data-pid="%d"]');
	})()`, victim, victim))
	waitJS(t, ctx, "reap and spawn in the event log", fmt.Sprintf(
		`!!document.querySelector('#events li[data-kind="reap"][data-pid="%d"]') && !!document.querySelector('#events li[data-kind="spawn"][data-watcher="sleepers"]')`, victim))
	waitJS(t, ctx, "live CPU figures", `document.querySelector('article[data-watcher="sleepers"] .chart b').textContent.endsWith('%')`)
	waitJS(t, ctx, "poold's own figures", `document.querySelector('#self').textContent.includes('rss')`)
	saveScreenshot(t, ctx, "console-real.png")
}
