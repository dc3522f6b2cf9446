package web

import (
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
)

// dropOneMessage makes the page's websocket drop the first message for
// which window.__drop(data) is true, as if it had never come; the
// dropped one is kept in window.__dropped.
const dropOneMessage = `(() => {
	window.__drop = null; window.__dropped = [];
	const d = Object.getOwnPropertyDescriptor(WebSocket.prototype, 'onmessage');
	Object.defineProperty(WebSocket.prototype, 'onmessage', { configurable: true,
		get() { return d.get.call(this); },
		set(fn) { d.set.call(this, fn && ((m) => {
			if (window.__drop && window.__drop(m.data)) { window.__drop = null; window.__dropped.push(m.data); return; }
			fn(m);
		})); },
	});
})()`

// TestBrowserMissedMessageHeals: a page that lost the message saying a
// watcher failed shows it failed again at the next resync, which now
// sends only versions: the page finds its own out of date and asks. Its
// charts, whose history the hello no longer carries, fill from what the
// page asks for the cards in view.
func TestBrowserMissedMessageHeals(t *testing.T) {
	ctx := newBrowser(t)
	fake := newFakeBackend(t, map[string]int{"web": 2, "worker": 1})
	ts := startServer(t, fake, configs.Web{}, func(tu *tunings) {
		tu.resync = time.Second
		tu.statsFlush = time.Millisecond
	})
	// 250 s of history on the buses' clock before the page opens; no
	// round after it, so a chart drawn over most of its width was drawn
	// from the history the page asked for.
	c := dialConsole(t, ts)
	c.loadedState()
	for range 250 {
		fake.Sample(true)
		c.next("the round's stats", typeIs("stats"))
	}
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: dropOneMessage}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(ts.url+"/")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the web watcher with 2 processes", rowsExpr("web", 2))
	waitJS(t, ctx, "web's chart drawn from its history", chartSpanExpr("web", 200.0/300))

	// The message that says web failed (a watcher message, or a sync when
	// a resync read it first) is lost.
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`window.__drop = (d) => d.includes('"status":"failed"')`)); err != nil {
		t.Fatal(err)
	}
	fake.Fail("web", "wid 1 failed: exited with status 3 five times; poolctl start web", []map[string]any{
		{"wid": 1, "state": "failed", "pid": 0, "restarts": 5, "last_exit": "exited with status 3", "retry_at": 0},
	})
	waitJS(t, ctx, "the lost message about web", `window.__dropped.length === 1`)
	waitJS(t, ctx, "web shown failed after the resync", `document.querySelector('article[data-watcher="web"] .badge').textContent === 'failed'`)
	waitJS(t, ctx, "web's reason", `document.querySelector('article[data-watcher="web"] .wreason').textContent.includes('poolctl start web')`)
}

// TestBrowserWrongGuessFromAnEventHeals: the page applies spawn and reap
// events to its cards itself, and poold's update of the watcher follows.
// When that update was lost, a guess that did not match poold (here a
// spawn of a pid poold does not have) stayed for good: the resync sends
// only versions, and poold's version of the watcher was what the page
// had before the event.
func TestBrowserWrongGuessFromAnEventHeals(t *testing.T) {
	ctx := newBrowser(t)
	fake := newFakeBackend(t, map[string]int{"web": 2})
	ts := startServer(t, fake, configs.Web{}, func(tu *tunings) { tu.resync = time.Second })
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: dropOneMessage}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(ts.url+"/")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the web watcher with 2 processes", rowsExpr("web", 2))
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`window.__drop = (d) => d.includes('"type":"watcher"')`)); err != nil {
		t.Fatal(err)
	}
	fake.Events.Publish("web", events.KindSpawn, map[string]any{"process_pid": 4194000, "process_id": 9})
	// Dropped: poold's watcher message after the event (a resync that
	// read everything may come first instead, with web unchanged).
	waitJS(t, ctx, "the page's row for the spawn it was told of", `!!document.querySelector('tr[data-pid="4194000"]')`)
	waitJS(t, ctx, "web as poold has it after a resync", `!document.querySelector('tr[data-pid="4194000"]') && (`+rowsExpr("web", 2)+`)`)
}
