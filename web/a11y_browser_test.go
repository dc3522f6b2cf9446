package web

import (
	"context"
	"testing"

	"github.com/chromedp/chromedp"

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
