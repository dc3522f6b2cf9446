package web

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/proctest"
)

const chromiumPath = "/usr/bin/chromium"

// newBrowser returns a tab of its own, in a browser context of its own
// (cookies, storage and cache as fresh as a new profile's), of the one
// headless Chromium this test binary starts at the first call: a
// Chromium per test cost seconds of CPU each, most of a browser test's.
// Without Chromium the test is skipped, except with CI=true, where a
// missing browser is a failure.
// Its deadline starts here: build and start what the test needs (a
// poold binary) before it.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("browser test needs %s (apt-get install chromium): %v", chromiumPath, err)
		}
		t.Skipf("no %s: browser test skipped (it fails instead with CI=true)", chromiumPath)
	}
	browser, err := sharedBrowser()
	if err != nil {
		t.Fatalf("start %s: %v", chromiumPath, err)
	}
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	// A hang anywhere below ends here rather than at the test timeout.
	ctx, tcancel := context.WithTimeout(ctx, 5*jsHang)
	t.Cleanup(func() {
		tcancel()
		cancel() // closes the tab and disposes of its browser context
	})
	return ctx
}

// The Chromium the browser tests share, started by sharedBrowser and
// ended by closeBrowser (TestMain, once every test has run).
var browserOnce struct {
	sync.Once
	ctx   context.Context
	err   error
	close func()
}

func sharedBrowser() (context.Context, error) {
	b := &browserOnce
	b.Do(func() {
		dir, err := os.MkdirTemp("", "poold-web-chromium-")
		if err != nil {
			b.err = err
			return
		}
		opts := append(chromedp.DefaultExecAllocatorOptions[:],
			chromedp.ExecPath(chromiumPath),
			chromedp.Headless,
			chromedp.DisableGPU,
			chromedp.NoFirstRun,
			chromedp.Flag("disable-background-networking", true),
			chromedp.Flag("disable-component-update", true),
			chromedp.Flag("disable-sync", true),
			chromedp.UserDataDir(dir),
			chromedp.WindowSize(1440, 900),
		)
		if os.Geteuid() == 0 {
			opts = append(opts, chromedp.NoSandbox)
		}
		actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
		bctx, bcancel := chromedp.NewContext(actx)
		b.close = func() {
			bcancel()
			acancel()
			removeProfile(dir)
		}
		if b.err = chromedp.Do(bctx); b.err != nil { // starts the browser
			return
		}
		b.ctx = bctx
	})
	return b.ctx, b.err
}

// closeBrowser ends the shared Chromium, if one was started.
func closeBrowser() {
	if browserOnce.close != nil {
		browserOnce.close()
	}
}

// removeProfile removes the browser's profile directory once no
// Chromium process writes there: its helpers (zygote, renderers,
// crashpad) outlive the browser process acancel reaped by a moment, and
// one RemoveAll then failed ("unlinkat .../Default: directory not
// empty"), as t.TempDir's did when each test had its own Chromium.
func removeProfile(dir string) {
	var err error
	if !proctest.Poll(time.Minute, func() bool {
		err = os.RemoveAll(dir)
		return err == nil
	}) {
		fmt.Fprintf(os.Stderr, "the browser's profile %s: %v (a Chromium process still writes there?)\n", dir, err)
	}
}

// jsHang bounds a wait for the page (waitJS): only a hang. 20 s, as it
// was, failed waits for a stats round or two under load (a browser test
// in each of two runs beside other suites: "waiting for the round drawn
// ... timeout").
const jsHang = time.Minute

// waitJS polls a JavaScript predicate in the page (generous bound).
func waitJS(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	waitJSExplained(t, ctx, what, expr, nil)
}

// waitJSExplained is waitJS whose failure also says what explain
// returns (what the page and the fake backend hold, say), where the
// page's first 4000 characters do not tell which part is wrong.
func waitJSExplained(t *testing.T, ctx context.Context, what, expr string, explain func() string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(jsHang))); err != nil {
		html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("main")))
		if len(html) > 4000 {
			html = html[:4000]
		}
		more := ""
		if explain != nil {
			more = "\n" + explain()
		}
		t.Fatalf("waiting for %s (%s): %v%s\npage: %s", what, expr, err, more, html)
	}
}

// saveScreenshot writes a full-page PNG into the test's artifact directory
// (kept with `go test -artifacts -outputdir DIR`).
func saveScreenshot(t *testing.T, ctx context.Context, name string) string {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(t.ArtifactDir(), name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
	return path
}

func rowsExpr(watcher string, n int) string {
	return fmt.Sprintf(`document.querySelectorAll('article[data-watcher=%q] tbody tr[data-pid]').length === %d`, watcher, n)
}

// chartSpanExpr is true once the watcher's CPU chart has coloured pixels
// from at least frac of its width before the right edge, i.e. its points
// cover that part of the time window.
func chartSpanExpr(watcher string, frac float64) string {
	return fmt.Sprintf(`(() => {
		const c = document.querySelector('article[data-watcher=%q] .chart canvas');
		if (!c || !c.width || !c.height) return false;
		const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
		let left = c.width;
		for (let y = 0; y < c.height; y++)
			for (let x = 0; x < left; x++)
				if (d[(y * c.width + x) * 4 + 3]) { left = x; break; }
		return (c.width - left) / c.width >= %g;
	})()`, watcher, frac)
}

func TestBrowserConsole(t *testing.T) {
	ctx := newBrowser(t)
	fake := newFakeBackend(t, map[string]int{"web": 3, "worker": 2})
	ts := startServer(t, fake, configs.Web{}, func(tu *tunings) { tu.statsFlush = 20 * time.Millisecond })

	// A sampler, ten rounds a second on a clock that moves a second per
	// round, so the charts have minutes of history within seconds.
	runSampler(t, fake, 100*time.Millisecond, true)

	if err := chromedp.Do(ctx, chromedp.Navigate(ts.url+"/")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the web watcher with 3 processes", rowsExpr("web", 3))
	waitJS(t, ctx, "the live connection", `document.querySelector('#conn').textContent === 'live'`)

	// incr: one more row, and the outcome is shown.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`article[data-watcher="web"] button[data-act="incr"]`))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "4 rows after incr", rowsExpr("web", 4))
	waitJS(t, ctx, "the incr outcome", `[...document.querySelectorAll('.toast')].some(e => e.dataset.ok === '1' && e.textContent.includes('web: incr'))`)

	// Kill a worker from outside: its row (wid 1) gets a new pid, and the
	// event log shows the reap and the spawn.
	victim := fake.Pids("web")[1]
	if err := killPid(victim); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "wid 1 with a new pid", fmt.Sprintf(`(() => {
		const r = document.querySelector('article[data-watcher="web"] tr[data-wid="1"]');
		return r && r.dataset.pid !== '%d' && !document.querySelector('tr[data-pid="%d"]');
	})()`, victim, victim))
	newPid := fake.Pids("web")[1]
	waitJS(t, ctx, "reap and spawn in the event log", fmt.Sprintf(
		`!!document.querySelector('#events li[data-kind="reap"][data-pid="%d"]') && !!document.querySelector('#events li[data-kind="spawn"][data-pid="%d"]')`,
		victim, newPid))
	waitJS(t, ctx, "4 rows again", rowsExpr("web", 4))

	// Filtering the log by watcher hides the other watcher's events.
	setFilter := func(v string) {
		t.Helper()
		js := fmt.Sprintf(`(() => { const s = document.querySelector('#evfilter'); s.value = %q; s.dispatchEvent(new Event('change')); })()`, v)
		if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](js)); err != nil {
			t.Fatal(err)
		}
	}
	setFilter("worker")
	waitJS(t, ctx, "only worker events", `[...document.querySelectorAll('#events li[data-watcher]')].every(li => li.dataset.watcher === 'worker')`)
	setFilter("")

	// Charts and poold's own figures fill from the stats stream.
	waitJS(t, ctx, "chart values", `document.querySelector('article[data-watcher="web"] .chart b').textContent.endsWith('%')`)
	waitJS(t, ctx, "poold's own cpu/rss", `document.querySelector('#self').textContent.includes('rss')`)
	// For the picture, wait (at most 30s, not an assertion) until the web
	// CPU chart is drawn over 90 one-second rounds: its painted part, from
	// the leftmost coloured column to the right edge, spans 89 of the 300
	// seconds the chart shows.
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](chartSpanExpr("web", 89.0/300),
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		t.Logf("charts not filled for the screenshot (rounds sampled: %d): %v", fake.roundsDone(), err)
	}
	saveScreenshot(t, ctx, "console.png")
}

func TestBrowserReadOnly(t *testing.T) {
	ctx := newBrowser(t)
	fake := newFakeBackend(t, map[string]int{"web": 2})
	ts := startServer(t, fake, configs.Web{ReadOnly: true}, nil)
	if err := chromedp.Do(ctx, chromedp.Navigate(ts.url+"/")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the web watcher", rowsExpr("web", 2))
	// Reading the workers' logs is not an action: its button stays.
	waitJS(t, ctx, "read-only badge and no visible actions", `!document.querySelector('#ro').hidden &&
		[...document.querySelectorAll('button[data-act]:not([data-act=logs])')].every(b => b.offsetParent === null) &&
		document.querySelector('button[data-act=logs]').offsetParent !== null`)
}

func TestBrowserToken(t *testing.T) {
	ctx := newBrowser(t)
	fake := newFakeBackend(t, map[string]int{"web": 1})
	ts := startServer(t, fake, configs.Web{Token: "tok-123"}, nil)
	if err := chromedp.Do(ctx, chromedp.Navigate(ts.url+"/?token=tok-123")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the console after the token visit", rowsExpr("web", 1))
	waitJS(t, ctx, "the token gone from the address bar", `!location.search.includes('token')`)
}

// TestBrowserTokenReplaced: a page whose token a reload replaced says
// to sign in again rather than "retrying" for ever.
func TestBrowserTokenReplaced(t *testing.T) {
	ctx := newBrowser(t)
	fake := newFakeBackend(t, map[string]int{"web": 1})
	ts := startServer(t, fake, configs.Web{Enabled: true, Token: "tok-123"}, nil)
	if err := chromedp.Do(ctx, chromedp.Navigate(ts.url+"/?token=tok-123")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the live connection", `document.querySelector('#conn').textContent === 'live'`)
	ts.Reconfigure(configs.Web{Enabled: true, Address: ts.addr, Token: "tok-456"})
	waitJS(t, ctx, "the page to say it is signed out", `(() => {
		const c = document.querySelector('#conn');
		return c.textContent.includes('signed out') && c.textContent.includes('?token=') && c.title.includes('sign in again');
	})()`)
}

// TestBrowserFailedWatcher shows a failed watcher's reason and the last
// exit of its slots without a process, and the health keys only on the
// watcher that has a health check, with a count shown as a count.
func TestBrowserFailedWatcher(t *testing.T) {
	ctx := newBrowser(t)
	fake := newFakeBackend(t, map[string]int{"web": 2, "worker": 1})
	ts := startServer(t, fake, configs.Web{}, nil)
	if err := chromedp.Do(ctx, chromedp.Navigate(ts.url+"/")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the worker watcher", rowsExpr("worker", 1))
	waitJS(t, ctx, "health keys on web, as a count and durations", `(() => {
		const m = document.querySelector('article[data-watcher="web"] .wmeta').textContent;
		return m.includes('health threshold 3') && !m.includes('health threshold 3s') && m.includes('health interval 10s');
	})()`)
	waitJS(t, ctx, "no health keys on worker", `!document.querySelector('article[data-watcher="worker"] .wmeta').textContent.includes('health')`)
	waitJS(t, ctx, "no reason while all is well", `document.querySelector('article[data-watcher="worker"] .wreason').hidden`)

	slots := failedSlots(fake.Pids("worker")[1])
	slots[2]["retry_at"] = float64(time.Now().Add(time.Hour).Unix())
	fake.Fail("worker", failReason, slots)
	failedShown := fmt.Sprintf(`(() => {
		const card = document.querySelector('article[data-watcher="worker"]');
		if (!card) return false;
		const reason = card.querySelector('.wreason');
		const failed = card.querySelector('tr.slot[data-wid="2"]');
		const backoff = card.querySelector('tr.slot[data-wid="3"]');
		return card.querySelector('.badge').textContent === 'failed' &&
			!reason.hidden && reason.textContent === %q &&
			!!failed && failed.textContent.includes('failed') && failed.textContent.includes('last exit: exited with status 3') &&
			!!backoff && backoff.textContent.includes('killed by signal KILL') && /retry in (59m|1h)/.test(backoff.textContent) &&
			!card.querySelector('tr.slot[data-wid="1"]') && card.querySelectorAll('tr[data-pid]').length === 1;
	})()`, failReason)
	waitJS(t, ctx, "the failed worker's reason and slots", failedShown)
	waitJS(t, ctx, "the failed event in the log", `!!document.querySelector('#events li[data-kind="failed"][data-watcher="worker"]')`)
	saveScreenshot(t, ctx, "failed.png")

	// A fresh page starts from the whole state: same picture.
	if err := chromedp.Do(ctx, chromedp.Navigate(ts.url+"/")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the failed worker after a page load", failedShown)
}

// TestBrowserReloadConfigRejected: the Reload config button shows a
// rejected config's reason, not "ok" (poold answers ok at once to a
// reloadconfig that does not wait).
func TestBrowserReloadConfigRejected(t *testing.T) {
	fake := newFakeBackend(t, map[string]int{"web": 1})
	fake.reloadErr = "reloadconfig: poold.toml: watchers.web.bogus_key: unknown key (nothing was changed)"
	if got := reloadConfigToast(t, fake); !strings.HasPrefix(got, "0 ") || !strings.Contains(got, "bogus_key") {
		t.Errorf("toast %q, want a failure naming bogus_key", got)
	}
}

// TestBrowserReloadConfigRestartNeeded: a reload that applied but left
// settings for a restart (restart_needed) says which, not just "ok", and
// what applies them: an upgrade in place binds [web]'s listeners anew,
// and keeps [arbiter]'s endpoints.
func TestBrowserReloadConfigRestartNeeded(t *testing.T) {
	fake := newFakeBackend(t, map[string]int{"web": 1})
	fake.restartNeeded = []string{"arbiter.endpoint", "web.address", "web.metrics_address"}
	got := reloadConfigToast(t, fake)
	for _, want := range []string{
		"arbiter.endpoint keeps its old value until poold restarts (an upgrade in place keeps it too)",
		"web.address, web.metrics_address keep their old value until poold restarts or is upgraded in place (poolctl upgrade)",
	} {
		if !strings.HasPrefix(got, "1 warn ") || !strings.Contains(got, want) {
			t.Errorf("toast %q, want a warning saying %q", got, want)
		}
	}
}

// TestBrowserReloadConfigWarnings: a reload that applied with config
// warnings shows them, as poolctl reloadconfig prints them.
func TestBrowserReloadConfigWarnings(t *testing.T) {
	fake := newFakeBackend(t, map[string]int{"web": 1})
	fake.reloadWarnings = []string{"configs: circus.ini:5: [watcher:web] bogus_opt: no poold equivalent; ignored"}
	got := reloadConfigToast(t, fake)
	if !strings.HasPrefix(got, "1 warn ") || !strings.Contains(got, "applied, with a warning: configs: circus.ini:5: [watcher:web] bogus_opt") {
		t.Errorf("toast %q, want a warning quoting the config's warning", got)
	}
}

// reloadConfigToast presses Reload config in a console over fake and
// returns its toast as "OK [warn ]TEXT" (OK is 1 or 0).
func reloadConfigToast(t *testing.T, fake *fakeBackend) string {
	t.Helper()
	ctx := newBrowser(t)
	ts := startServer(t, fake, configs.Web{}, nil)
	if err := chromedp.Do(ctx, chromedp.Navigate(ts.url+"/")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the web watcher", rowsExpr("web", 1))
	waitJS(t, ctx, "the live connection", `document.querySelector('#conn').textContent === 'live'`)
	for range 2 { // the second click confirms
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#reloadconfig`))); err != nil {
			t.Fatal(err)
		}
	}
	waitJS(t, ctx, "the reload's toast", `[...document.querySelectorAll('.toast')].some(e => e.textContent.includes('reload config'))`)
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => {
		const e = [...document.querySelectorAll('.toast')].find(e => e.textContent.includes('reload config'));
		return e.dataset.ok + (e.classList.contains('warn') ? ' warn ' : ' ') + e.textContent;
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestBrowserStoppedWorker: a worker stopped by SIGSTOP shows as such in
// its row (it serves nobody, though poold counts it), and no longer once
// it is continued.
func TestBrowserStoppedWorker(t *testing.T) {
	ctx := newBrowser(t)
	fake := newFakeBackend(t, map[string]int{"web": 2})
	ts := startServer(t, fake, configs.Web{}, func(tu *tunings) { tu.statsFlush = 20 * time.Millisecond })
	runSampler(t, fake, 50*time.Millisecond, false)
	if err := chromedp.Do(ctx, chromedp.Navigate(ts.url+"/")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the web watcher with 2 processes", rowsExpr("web", 2))
	pid := fake.Pids("web")[1] // wid 1's
	stateOf := func(want string) string {
		return fmt.Sprintf(`(() => { const r = document.querySelector('tr[data-pid="%d"]'); return !!r && r.cells[2].textContent === %q; })()`, pid, want)
	}
	waitJS(t, ctx, "the worker running", stateOf("running"))
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the worker shown stopped", stateOf("running (stopped)"))
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the worker running again", stateOf("running"))
}

// runSampler publishes a stats round every interval until the test ends,
// as poold's sampler does (fast: on a clock that moves a second a round).
func runSampler(t *testing.T, fake *fakeBackend, every time.Duration, fast bool) {
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				fake.Sample(fast)
			}
		}
	}()
	t.Cleanup(func() { stop(); <-done })
}
