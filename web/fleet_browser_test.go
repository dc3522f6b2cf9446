package web

import (
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/poold/poold/configs"
)

// TestBrowserFleetAddHost drives the console's "Add a host" form: a URL
// poold refuses is told in a toast with the reason (it used to be only a
// red border, the reason in a tooltip), a real host shows up as a card
// with its watchers, and its × removes it.
func TestBrowserFleetAddHost(t *testing.T) {
	remote := newFakeRemote(t)
	ctx := newBrowser(t)
	ts := startServer(t, newFakeBackend(t, map[string]int{"local": 1}), configs.Web{}, nil)
	if err := chromedp.Do(ctx, chromedp.Navigate(ts.url+"/")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the live connection", `document.querySelector('#conn').textContent === 'live'`)
	add := func(url string) {
		t.Helper()
		if err := chromedp.Do(ctx,
			chromedp.Evaluate[chromedp.Void](`document.querySelector('#fleetadd-box').open = true`),
			chromedp.SetValue(chromedp.CSS(`#fleeturl`), url),
			chromedp.SetValue(chromedp.CSS(`#fleettoken`), "remote-token-0123456789"),
			chromedp.Click(chromedp.CSS(`#fleetadd button[type="submit"]`)),
		); err != nil {
			t.Fatal(err)
		}
	}

	add("ftp://127.0.0.1:1")
	waitJS(t, ctx, "a toast with the reason the host was refused", `[...document.querySelectorAll('.toast.err')].some(e =>
		e.textContent.includes('fleet: add ftp://127.0.0.1:1') && e.textContent.length > 'fleet: add ftp://127.0.0.1:1 — '.length + 10)`)

	add(remote.srv.URL)
	waitJS(t, ctx, "the host's card, live, with its web watcher", `(() => {
		const c = document.querySelector('#fleet article.fleethost');
		return c && c.dataset.state === 'live' && !!c.querySelector('tr[data-watcher="web"]');
	})()`)
	waitJS(t, ctx, "the form emptied", `document.querySelector('#fleeturl').value === '' && !document.querySelector('#fleetadd').dataset.error`)

	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#fleet article.fleethost button.danger`))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the card gone", `!document.querySelector('#fleet article.fleethost')`)
}
