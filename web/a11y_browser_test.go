package web

import (
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/poold/poold/configs"
)

// TestBrowserConnectionAnnounced: the connection's state ("live",
// "disconnected – retrying", "signed out") is a live status region, so a
// screen reader says when the console stops being live; it was a plain
// div that only its colour and text set apart.
func TestBrowserConnectionAnnounced(t *testing.T) {
	ctx := newBrowser(t)
	ts := startServer(t, newFakeBackend(t, map[string]int{"web": 1}), configs.Web{}, nil)
	if err := chromedp.Do(ctx, chromedp.Navigate(ts.url+"/")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the live connection", `document.querySelector('#conn').textContent === 'live'`)
	role := evalJS[string](t, ctx, `(() => { const c = document.querySelector('#conn');
		return (c.getAttribute('role') || '') + '|' + (c.getAttribute('aria-live') || ''); })()`)
	if role != "status|" && role != "status|polite" && role != "|polite" {
		t.Errorf("#conn is not a live region (role|aria-live = %q): a lost connection is not announced", role)
	}
}
