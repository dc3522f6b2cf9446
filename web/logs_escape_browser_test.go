package web

import (
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserLogPaneTerminalEscapes: a worker that colours its output
// for a terminal (as most loggers do when told to) shows its text in the
// log pane, not "␛[31m" litter around it; markup in a line stays text.
func TestBrowserLogPaneTerminalEscapes(t *testing.T) {
	url := startPooldWith(t, `
[watchers.colours]
cmd = "/bin/sh"
args = ["-c", 'while :; do printf "\033[1;31mERROR\033[0m disk \033]0;title\007full <b>x</b>\n"; sleep 0.05; done']
stdout_log = "none"
stderr_log = "none"
graceful_timeout = "2s"
`)
	ctx := newBrowser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(url+"/")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "colours with a process", rowsExpr("colours", 1))
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`article[data-watcher="colours"] button[data-act="logs"]`))); err != nil {
		t.Fatal(err)
	}
	pane := `document.querySelector('[data-logs="colours"]')`
	waitJS(t, ctx, "lines in the pane", pane+`.querySelectorAll('.l').length > 2`)
	line := evalJS[string](t, ctx, pane+`.querySelector('.l').textContent`)
	if want := "1 out ERROR disk full <b>x</b>"; line != want {
		t.Errorf("pane line %q, want %q", line, want)
	}
	if n := evalJS[int](t, ctx, pane+`.querySelectorAll('.l b').length`); n != 0 {
		t.Errorf("a line's markup became %d elements in the pane", n)
	}
	// The search runs over the text shown.
	evalJS[any](t, ctx, `(() => { const s = `+pane+`.querySelector('.lsearch'); s.value = 'ERROR disk'; s.dispatchEvent(new Event('input')); return true; })()`)
	waitJS(t, ctx, "the search finding the shown text", pane+`.querySelectorAll('.l').length > 0`)
}
