package web

import (
	"context"
	"fmt"
	"testing"

	"github.com/chromedp/chromedp"
)

// logWatchers: "chatty" writes a numbered line to stdout and one to stderr
// every 20 ms, numbered 1 to 20 over and over (so a search for "oops 1"
// finds recent lines however late the test gets to it); "flood" writes
// about 10,000 lines a second. Their output goes only to the ring
// (stdout_log and stderr_log "none").
const logWatchers = `
[watchers.chatty]
cmd = "/bin/sh"
args = ["-c", 'i=0; while :; do i=$((i%20+1)); echo "tick $i"; echo "oops $i" >&2; sleep 0.02; done']
numprocesses = 2
stdout_log = "none"
stderr_log = "none"
graceful_timeout = "2s"

[watchers.flood]
cmd = "python3"
args = ["-c", "import sys, time\ni = 0\nwhile True:\n    for _ in range(100):\n        i += 1\n        sys.stdout.write('flood %d\\n' % i)\n    sys.stdout.flush()\n    time.sleep(0.01)"]
stdout_log = "none"
stderr_log = "none"
graceful_timeout = "2s"
`

// evalJS runs expr in the page and returns its value.
func evalJS[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// TestBrowserLogPane opens the log pane of a real poold's watcher: lines
// appear as they are written, the stream filter, the search and pause
// work, and a worker writing 10,000 lines a second gets a bounded pane
// that says how many lines it skipped.
func TestBrowserLogPane(t *testing.T) {
	url := startPooldWith(t, logWatchers)
	ctx := newBrowser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(url+"/")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "chatty with 2 processes", rowsExpr("chatty", 2))
	pane := `document.querySelector('[data-logs="chatty"]')`
	click := func(sel string) {
		t.Helper()
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(sel))); err != nil {
			t.Fatal(err)
		}
	}
	click(`article[data-watcher="chatty"] button[data-act="logs"]`)
	waitJS(t, ctx, "tick lines in the pane", pane+`.querySelectorAll('.l').length > 5 && `+pane+`.textContent.includes('tick')`)
	lastSeq := pane + `.querySelector('.loglines').lastElementChild.dataset.seq`
	seen := evalJS[string](t, ctx, lastSeq)
	waitJS(t, ctx, "newer lines as they are written", fmt.Sprintf(`Number(%s) > %s`, lastSeq, seen))

	// Stream filter: stderr only.
	setValue := func(sel, v, ev string) {
		t.Helper()
		evalJS[any](t, ctx, fmt.Sprintf(`(() => { const s = %s.querySelector(%q); s.value = %q; s.dispatchEvent(new Event(%q)); return true; })()`, pane, sel, v, ev))
	}
	setValue(".lstream", "stderr", "change")
	waitJS(t, ctx, "only stderr lines", fmt.Sprintf(`(() => { const l = [...%s.querySelectorAll('.l')]; return l.length > 3 && l.every(e => e.dataset.stream === 'stderr' && e.textContent.includes('oops')); })()`, pane))

	// Worker filter: wid 2 only.
	setValue(".lwid", "2", "change")
	waitJS(t, ctx, "only wid 2", fmt.Sprintf(`(() => { const l = [...%s.querySelectorAll('.l')]; return l.length > 3 && l.every(e => e.querySelector('.lw').textContent.startsWith('2 ')); })()`, pane))
	setValue(".lwid", "", "change")

	// Search: only matching lines are shown.
	setValue(".lsearch", "oops 1", "input")
	waitJS(t, ctx, "only lines matching the search", fmt.Sprintf(`(() => { const l = [...%s.querySelectorAll('.l')]; return l.length > 0 && l.every(e => e.textContent.includes('oops 1')); })()`, pane))
	setValue(".lsearch", "", "input")

	// Pause: new lines wait, the shown ones stay; unpause shows them.
	paused := evalJS[string](t, ctx, fmt.Sprintf(`(() => { const p = %[1]s.querySelector('.lpause'); p.checked = true; p.dispatchEvent(new Event('change')); return %[2]s; })()`, pane, lastSeq))
	waitJS(t, ctx, "lines waiting while paused", pane+`.querySelector('.lstat').dataset.pending > 3`)
	if now := evalJS[string](t, ctx, lastSeq); now != paused {
		t.Fatalf("the pane moved from line %s to %s while paused", paused, now)
	}
	evalJS[any](t, ctx, fmt.Sprintf(`(() => { const p = %s.querySelector('.lpause'); p.checked = false; p.dispatchEvent(new Event('change')); return true; })()`, pane))
	waitJS(t, ctx, "the waiting lines after unpause", fmt.Sprintf(`Number(%s) > %s`, lastSeq, paused))
	saveScreenshot(t, ctx, "logs.png")

	// 10,000 lines a second: the pane stays bounded and says what it skipped.
	click(`article[data-watcher="flood"] button[data-act="logs"]`)
	flood := `document.querySelector('[data-logs="flood"]')`
	waitJS(t, ctx, "skipped lines stated", flood+`.querySelector('.lstat').dataset.skipped > 1000 && `+flood+`.querySelector('.lstat').textContent.includes('skipped')`)
	if n := evalJS[int](t, ctx, flood+`.querySelectorAll('.l').length`); n > 500 {
		t.Errorf("the flood pane holds %d lines, want at most 500", n)
	}
}
