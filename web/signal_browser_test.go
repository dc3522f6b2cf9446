package web

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/configs"
)

// openWeb opens the console of a fake poold whose watcher web has n
// workers (stats flushed every 20 ms), once their rows are drawn.
func openWeb(t *testing.T, n int) (context.Context, *fakeBackend) {
	t.Helper()
	ctx := newBrowser(t)
	fake := newFakeBackend(t, map[string]int{"web": n})
	ts := startServer(t, fake, configs.Web{}, func(tu *tunings) { tu.statsFlush = 20 * time.Millisecond })
	if err := chromedp.Do(ctx, chromedp.Navigate(ts.url+"/")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, fmt.Sprintf("the web watcher with %d processes", n), rowsExpr("web", n))
	return ctx, fake
}

// TestBrowserSignalMenu: a process row's signal menu names a signal and
// its send button sends it to that process. Its options are built when it is first used,
// not for every row up front: on a big poold they were a third of the
// page's nodes, all laid out again at each redraw.
func TestBrowserSignalMenu(t *testing.T) {
	ctx, fake := openWeb(t, 2)
	pid := fake.Pids("web")[1]
	menu := fmt.Sprintf(`document.querySelector('article[data-watcher="web"] tr[data-pid="%d"] select')`, pid)
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('tr[data-pid] select option').length`))
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("%d signal options in 2 unused menus, want 2 (the label of each): the menus are built up front", n)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(fmt.Sprintf(`article[data-watcher="web"] tr[data-pid="%d"] select`, pid)))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the focused menu's signals", fmt.Sprintf(`[...%s.options].map(o => o.value).join(',') === ',HUP,INT,QUIT,TERM,USR1,USR2,TTIN,TTOU,KILL'`, menu))
	choose := fmt.Sprintf(`(() => { const s = %s; s.value = 'HUP'; s.dispatchEvent(new Event('change')); })()`, menu)
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](choose)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(fmt.Sprintf(`article[data-watcher="web"] tr[data-pid="%d"] button[data-act="signal"]`, pid)))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the signal's outcome", `[...document.querySelectorAll('.toast')].some(e => e.dataset.ok === '1' && e.textContent.includes('SIGHUP'))`)
	if got, want := fake.Signals(), fmt.Sprintf("%d HUP", pid); !slices.Contains(got, want) {
		t.Errorf("signals sent: %q, want %q", got, want)
	}
}

// TestBrowserSignalMenuKeyboard: a keyboard user walks a process's
// signal menu with the arrow keys to the signal wanted, tabs to its send
// button and presses Enter: that one signal goes, none of those passed
// on the way. The menu sent on each change, and in Chromium an arrow key
// on a closed menu is a change: Down once sent SIGHUP to the worker, and
// SIGTERM could not be reached without sending SIGHUP first.
func TestBrowserSignalMenuKeyboard(t *testing.T) {
	ctx, fake := openWeb(t, 1)
	pid := fake.Pids("web")[1]
	row := fmt.Sprintf(`article[data-watcher="web"] tr[data-pid="%d"]`, pid)
	label, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`document.querySelector('%s select').getAttribute('aria-label')`, row)))
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("signal for pid %d", pid); label != want {
		t.Errorf("the menu's accessible name is %q, want %q: a screen reader cannot tell one row's menu from another's", label, want)
	}
	if err := chromedp.Do(ctx, chromedp.Focus(chromedp.CSS(row+" select"))); err != nil {
		t.Fatal(err)
	}
	// HUP, INT, QUIT, TERM.
	keys := kb.ArrowDown + kb.ArrowDown + kb.ArrowDown + kb.ArrowDown
	if err := chromedp.Do(ctx, chromedp.KeyEvent(keys)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.KeyEvent("\t\r")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "a signal's outcome", `[...document.querySelectorAll('.toast')].some(e => e.textContent.includes('SIG'))`)
	if got, want := fake.Signals(), []string{fmt.Sprintf("%d TERM", pid)}; !slices.Equal(got, want) {
		t.Errorf("signals sent: %q, want only %q", got, want)
	}
}

// TestBrowserSignalFocusSurvivesAReplacement: a keyboard user on one
// row's "send SIGTERM" button lost it (focus fell to the page, Enter sent
// nothing) when a worker with a lower wid was replaced meanwhile: the
// table moved every row after the new one, and moving a focused element
// blurs it. Rows that stay in place are no longer moved.
func TestBrowserSignalFocusSurvivesAReplacement(t *testing.T) {
	ctx, fake := openWeb(t, 2)
	pids := fake.Pids("web")
	row := fmt.Sprintf(`article[data-watcher="web"] tr[data-pid="%d"]`, pids[2])
	if err := chromedp.Do(ctx, chromedp.Focus(chromedp.CSS(row+" select"))); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.ArrowDown+kb.ArrowDown+kb.ArrowDown+kb.ArrowDown+"\t")); err != nil {
		t.Fatal(err)
	}
	focused := fmt.Sprintf(`document.activeElement === document.querySelector('%s button[data-act="signal"]')`, row)
	waitJS(t, ctx, "focus on the send button", focused)

	// wid 1's worker is replaced under the page.
	if r := fake.Do(context.Background(), arbiter.Request{Command: "kill", Properties: map[string]any{"name": "web", "pid": float64(pids[1])}}); r["status"] != "ok" {
		t.Fatalf("kill wid 1: %v", r)
	}
	waitJS(t, ctx, "wid 1's new worker on the page", fmt.Sprintf(
		`!document.querySelector('article[data-watcher="web"] tr[data-pid="%d"]') && document.querySelectorAll('article[data-watcher="web"] tr[data-pid]').length === 2`, pids[1]))
	still, err := chromedp.Run(ctx, chromedp.Evaluate[bool](focused))
	if err != nil {
		t.Fatal(err)
	}
	if !still {
		t.Fatalf("focus left the send button of pid %d when wid 1 was replaced", pids[2])
	}
	if err := chromedp.Do(ctx, chromedp.KeyEvent("\r")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the signal's outcome", `[...document.querySelectorAll('.toast')].some(e => e.textContent.includes('SIGTERM'))`)
	if got, want := fake.Signals(), []string{fmt.Sprintf("%d TERM", pids[2])}; !slices.Equal(got, want) {
		t.Errorf("signals sent: %q, want %q", got, want)
	}
}

// TestBrowserConfirmIsAnnounced: a click-twice button that turned into
// "sure?" told a screen reader nothing (the focused button's new text is
// not read), and its 3 s window was short for someone who first hears
// what happened. The armed state is said in a live region, and pressed
// from the keyboard the window is 10 s.
func TestBrowserConfirmIsAnnounced(t *testing.T) {
	ctx, fake := openWeb(t, 1)
	waitJS(t, ctx, "the live connection", `document.querySelector('#conn').textContent === 'live'`)
	if err := chromedp.Do(ctx, chromedp.Focus(chromedp.CSS(`#reloadconfig`))); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.KeyEvent("\r")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the armed button announced", `document.querySelector('#announce').getAttribute('aria-live') &&
		document.querySelector('#announce').textContent.startsWith('Press again within 10 seconds to confirm: ')`)
	if err := chromedp.Do(ctx, chromedp.KeyEvent("\r")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the reload's toast", `[...document.querySelectorAll('.toast')].some(e => e.textContent.includes('reload config'))`)
	if !slices.Contains(fake.Calls(), "reloadconfig") {
		t.Errorf("calls %q, want reloadconfig after the second Enter", fake.Calls())
	}
}
