package web

import (
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/poold/poold/configs"
)

// TestBrowserUnderPathPrefix: the console behind a proxy that serves it
// under /ops/poold/: signed in with ?token=, it stays there, loads its
// scripts and goes live over the websocket beside the page. Before, it
// was sent to the proxy's root, and under the prefix loaded nothing.
func TestBrowserUnderPathPrefix(t *testing.T) {
	ctx := newBrowser(t)
	fake := newFakeBackend(t, map[string]int{"web": 2})
	ts := startServer(t, fake, configs.Web{Token: "tok-prefix"}, nil)
	page := prefixProxy(t, ts)
	if err := chromedp.Do(ctx, chromedp.Navigate(page+"?token=tok-prefix")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the page at "+proxyPrefix+" without its token", `location.pathname === '`+proxyPrefix+`' && !location.search.includes('token')`)
	waitJS(t, ctx, "the web watcher's 2 rows", rowsExpr("web", 2))
	waitJS(t, ctx, "the live connection", `document.querySelector('#conn').textContent === 'live'`)
}

// TestBrowserSaysWhySocketRefused: behind a proxy that sends poold its
// own address as Host, the page loads but every websocket is refused as
// cross-origin; the page said only "disconnected – retrying". Its title
// now says what to look at.
func TestBrowserSaysWhySocketRefused(t *testing.T) {
	ctx := newBrowser(t)
	ts := startServer(t, newFakeBackend(t, map[string]int{"web": 1}), configs.Web{}, nil)
	page := prefixProxyHost(t, ts, false)
	if err := chromedp.Do(ctx, chromedp.Navigate(page)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the connection's title naming Host and the proxy", `(() => {
		const c = document.querySelector('#conn');
		return c.textContent.includes('disconnected') && c.title.includes('$http_host') && c.title.includes('proxy');
	})()`)
}
