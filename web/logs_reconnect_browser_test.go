package web

import (
	"regexp"
	"testing"

	"github.com/chromedp/chromedp"
)

// burstWatcher writes 100 numbered lines at once, then one every 100 ms,
// each with its pid: "run PID line N".
const burstWatcher = `
[watchers.burst]
cmd = "/bin/sh"
args = ["-c", 'i=0; while :; do i=$((i+1)); echo "run $$ line $i"; [ $i -gt 100 ] && sleep 0.1; done']
stdout_log = "none"
stderr_log = "none"
graceful_timeout = "2s"
`

// TestBrowserLogPaneStaysOpenAcrossReconnects: every reconnect (poold
// restarted or upgraded, a network blip) rebuilt the watchers' cards and
// closed their log panes, while each closed pane went on polling poold
// twice a second for as long as the page stayed open. A pane open before
// is open again after, reading its watcher's lines afresh: after a
// restart, the new run's from its first.
func TestBrowserLogPaneStaysOpenAcrossReconnects(t *testing.T) {
	url, restart := startRestartablePoold(t, burstWatcher)
	ctx := newBrowser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(url+"/")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "burst with 1 process", rowsExpr("burst", 1))
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`article[data-watcher="burst"] button[data-act="logs"]`))); err != nil {
		t.Fatal(err)
	}
	pane := `document.querySelector('[data-logs="burst"]')`
	waitJS(t, ctx, "the first run's line 105", pane+`.textContent.includes(' line 105\n') || /line 10[5-9]|line 1[1-9]\d/.test(`+pane+`.textContent)`)
	first := regexp.MustCompile(`run (\d+) line`).FindStringSubmatch(evalJS[string](t, ctx, pane+`.textContent`))
	if first == nil {
		t.Fatal("no 'run PID' line in the pane")
	}
	restart()
	// The new run's worker has another pid; its line 1 must be shown.
	newRun := `[...(` + pane + `?.querySelectorAll('.l') || [])].map(e => e.textContent).filter(s => s.includes('run ') && !s.includes('run ` + first[1] + ` '))`
	// Only the card built after the reconnect has the new run's lines.
	waitJS(t, ctx, "the new run's line 1", newRun+`.some(s => s.endsWith(' line 1'))`)
}
