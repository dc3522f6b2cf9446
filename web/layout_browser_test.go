package web

import (
	"fmt"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
)

// TestBrowserSocketsVisibleBesideLongEventLog: once the event log holds
// more lines than the side column has room for, the sockets panel above
// it keeps its rows on screen. It used to shrink to its title, its table
// drawn under the event log, whenever the log was full (which on a busy
// poold is always).
func TestBrowserSocketsVisibleBesideLongEventLog(t *testing.T) {
	ctx := newBrowser(t)
	fake := newFakeBackend(t, map[string]int{"web": 1, "jobs": 1})
	ts := startServer(t, fake, configs.Web{}, nil)
	if err := chromedp.Do(ctx, chromedp.Navigate(ts.url+"/")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the live connection", `document.querySelector('#conn').textContent === 'live'`)
	for i := range 150 {
		fake.Events.Publish("jobs", events.KindUpdated, map[string]any{"n": i})
	}
	waitJS(t, ctx, "a full event log", `document.querySelectorAll('#events li').length >= 150`)
	waitJS(t, ctx, "the socket's row", `!!document.querySelector('#sockets tr td.num')`)
	// The row's middle must be the row itself, not the event log over it.
	visible := `(() => {
		const row = document.querySelector('#sockets tr');
		const r = row.getBoundingClientRect();
		const at = document.elementFromPoint(r.left + 20, r.top + r.height / 2);
		return !!at && row.contains(at);
	})()`
	ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](visible))
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		saveScreenshot(t, ctx, "sockets-covered.png")
		t.Fatal("the sockets panel's row is covered by the event log")
	}
}

// TestBrowserSocketsTableFitsItsPanel: the sockets table, with its queue
// chart, fits the side column's width; its last column ("used by") was
// cut off at the panel's edge.
func TestBrowserSocketsTableFitsItsPanel(t *testing.T) {
	ctx := newBrowser(t)
	ts := startServer(t, newFakeBackend(t, map[string]int{"web": 1}), configs.Web{}, nil)
	if err := chromedp.Do(ctx, chromedp.Navigate(ts.url+"/")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the socket's row", `!!document.querySelector('#sockets tr td.num')`)
	widths := evalJS[[]float64](t, ctx, `(() => {
		const table = document.querySelector('table.sockets'), panel = table.closest('.panel');
		return [table.getBoundingClientRect().right, panel.getBoundingClientRect().right - parseFloat(getComputedStyle(panel).paddingRight)];
	})()`)
	if widths[0] > widths[1]+0.5 {
		saveScreenshot(t, ctx, "sockets-wide.png")
		t.Errorf("the sockets table ends at x=%.1f, past its panel's content edge at x=%.1f", widths[0], widths[1])
	}
}

// TestBrowserEventKindsFitTheirColumn: every kind of event fits the
// event log's kind column; "reloadconfig" ran into the name beside it
// ("reloadconfigpoold").
func TestBrowserEventKindsFitTheirColumn(t *testing.T) {
	ctx, fake := openLiveConsole(t)
	kinds := []events.Kind{events.KindReloadConfig, events.KindUnhealthy, events.KindFlapping, events.KindRecycle, events.KindUpgrade}
	for _, k := range kinds {
		w := "web"
		if k == events.KindReloadConfig || k == events.KindUpgrade {
			w = ""
		}
		fake.Events.Publish(w, k, nil)
	}
	waitJS(t, ctx, "the events in the log", fmt.Sprintf(`document.querySelectorAll('#events li[data-kind]').length >= %d`, len(kinds)))
	over := evalJS[[]string](t, ctx, `[...document.querySelectorAll('#events li .k')].filter(k => {
		const r = document.createRange();
		r.selectNodeContents(k);
		return r.getBoundingClientRect().width > k.getBoundingClientRect().width + 0.5;
	}).map(k => k.textContent)`)
	if len(over) > 0 {
		saveScreenshot(t, ctx, "event-kinds.png")
		t.Errorf("event kinds wider than their column: %v", over)
	}
}
