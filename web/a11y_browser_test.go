package web

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
)

// openLiveConsole opens a console of one watcher "web" once it is live.
func openLiveConsole(t *testing.T) (context.Context, *fakeBackend) {
	t.Helper()
	ctx := newBrowser(t)
	fake := newFakeBackend(t, map[string]int{"web": 1})
	ts := startServer(t, fake, configs.Web{}, nil)
	if err := chromedp.Do(ctx, chromedp.Navigate(ts.url+"/")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the live connection", `document.querySelector('#conn').textContent === 'live'`)
	return ctx, fake
}

// TestBrowserConnectionAnnounced: the connection's state ("live",
// "disconnected – retrying", "signed out") is a live status region, so a
// screen reader says when the console stops being live; it was a plain
// div that only its colour and text set apart.
func TestBrowserConnectionAnnounced(t *testing.T) {
	ctx, _ := openLiveConsole(t)
	role := evalJS[string](t, ctx, `(() => { const c = document.querySelector('#conn');
		return (c.getAttribute('role') || '') + '|' + (c.getAttribute('aria-live') || ''); })()`)
	if role != "status|" && role != "status|polite" && role != "|polite" {
		t.Errorf("#conn is not a live region (role|aria-live = %q): a lost connection is not announced", role)
	}
}

// TestBrowserTextContrast: the status badges (ok, warn, bad, idle) and
// the event log's times reach WCAG AA's 4.5:1 against their backgrounds;
// the times were 2.6:1 and the warn badge 3.6:1.
func TestBrowserTextContrast(t *testing.T) {
	ctx, fake := openLiveConsole(t)
	fake.Events.Publish("web", events.KindUpdated, nil)
	waitJS(t, ctx, "an event's time", `!!document.querySelector('#events li time')`)
	low := evalJS[[]string](t, ctx, `(() => {
		const lum = (c) => {
			const [r, g, b] = c.match(/[\d.]+/g).slice(0, 3).map((v) => {
				v = v / 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
			return 0.2126 * r + 0.7152 * g + 0.0722 * b;
		};
		const ratio = (a, b) => { const x = lum(a), y = lum(b); return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05); };
		const cardBg = getComputedStyle(document.querySelector('.panel')).backgroundColor;
		const out = [];
		for (const cls of ["s-ok", "s-warn", "s-bad", "s-idle"]) {
			const b = document.createElement("span"); b.className = "badge " + cls; b.textContent = "x";
			document.querySelector('#summary').append(b);
			const cs = getComputedStyle(b), r = ratio(cs.color, cs.backgroundColor);
			if (r < 4.5) out.push(cls + " " + r.toFixed(2));
			b.remove();
		}
		const tm = getComputedStyle(document.querySelector('#events li time'));
		const r = ratio(tm.color, cardBg);
		if (r < 4.5) out.push("event time " + r.toFixed(2));
		return out;
	})()`)
	if len(low) > 0 {
		t.Errorf("text below 4.5:1 contrast: %v", low)
	}
}

// TestBrowserSummaryWhileLoading: while the console is still reading
// poold's watchers (a big poold starting is seconds of calls), the page's
// summary says so; it said "0 watchers · 0 active · 0 processes" beside
// "live" while poolctl listed 300 processes.
func TestBrowserSummaryWhileLoading(t *testing.T) {
	ctx := newBrowser(t)
	// The browser first: the load begins as the server starts.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	fake := newFakeBackend(t, map[string]int{"web": 1})
	fake.callTakes = time.Second
	ts := startServer(t, fake, configs.Web{}, nil)
	if err := chromedp.Do(ctx, chromedp.Navigate(ts.url+"/")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "a live page still loading", `document.querySelector('#conn').textContent === 'live' &&
		(window.seenLoading = window.seenLoading || (document.querySelector('#watchers .empty') || {}).textContent === 'Waiting for poold…' &&
		document.querySelector('#summary').textContent !== '' && document.querySelector('#summary').textContent) || false`)
	if got := evalJS[string](t, ctx, `window.seenLoading`); strings.Contains(got, "0 watchers") {
		t.Errorf("while loading, the summary says %q: as if poold ran nothing", got)
	}
	waitJS(t, ctx, "the loaded summary", `document.querySelector('#summary').textContent === '1 watcher · 1 active · 1 process'`)
}

// TestBrowserSkipToEvents: the first Tab stop skips every watcher's
// buttons to the sockets and events, and each watcher's card is named,
// so a screen reader says whose Start or Stop a button is. With 50
// watchers and 300 workers the event filter was some 950 Tab presses
// away, and every card's buttons were the same "Start", "Stop", ....
func TestBrowserSkipToEvents(t *testing.T) {
	ctx, _ := openLiveConsole(t)
	waitJS(t, ctx, "the web watcher's row", rowsExpr("web", 1))
	if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.Tab)); err != nil {
		t.Fatal(err)
	}
	first := evalJS[string](t, ctx, `document.activeElement.textContent`)
	if err := chromedp.Do(ctx, chromedp.KeyEvent("\r\t")); err != nil {
		t.Fatal(err)
	}
	if got := evalJS[string](t, ctx, `document.activeElement.id`); got != "evfilter" {
		t.Errorf("Tab, Enter, Tab focuses %q (the first Tab stop: %q), want the event filter", got, first)
	}
	if got := evalJS[string](t, ctx, `document.querySelector('article[data-watcher="web"]').getAttribute('aria-label') || ''`); got != "watcher web" {
		t.Errorf("the web watcher's card is named %q, want \"watcher web\"", got)
	}
}
