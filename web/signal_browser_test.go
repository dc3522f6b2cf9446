package web

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/poold/poold/configs"
)

// TestBrowserSignalMenu: a process row's signal menu sends the signal
// chosen to that process. Its options are built when it is first used,
// not for every row up front: on a big poold they were a third of the
// page's nodes, all laid out again at each redraw.
func TestBrowserSignalMenu(t *testing.T) {
	ctx := newBrowser(t)
	fake := newFakeBackend(t, map[string]int{"web": 2})
	ts := startServer(t, fake, configs.Web{}, func(tu *tunings) { tu.statsFlush = 20 * time.Millisecond })
	if err := chromedp.Do(ctx, chromedp.Navigate(ts.url+"/")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the web watcher with 2 processes", rowsExpr("web", 2))
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
	waitJS(t, ctx, "the signal's outcome", `[...document.querySelectorAll('.toast')].some(e => e.dataset.ok === '1' && e.textContent.includes('SIGHUP'))`)
	if got, want := fake.Signals(), fmt.Sprintf("%d HUP", pid); !slices.Contains(got, want) {
		t.Errorf("signals sent: %q, want %q", got, want)
	}
}
