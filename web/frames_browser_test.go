package web

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/performance"
	"github.com/chromedp/chromedp"

	"github.com/poold/poold/configs"
)

// layoutCount is how many layouts the page has run so far (Chromium's
// own count, forced ones included).
func layoutCount(t *testing.T, ctx context.Context) float64 {
	t.Helper()
	n, err := chromedp.Run(ctx, chromedp.Action[float64](func(ctx context.Context, tg *chromedp.Target) (float64, error) {
		r, err := cdp.Call(ctx, tg, performance.GetMetrics, cdp.Empty{})
		if err != nil {
			return 0, err
		}
		for _, m := range r.Metrics {
			if m.Name == "LayoutCount" {
				return m.Value, nil
			}
		}
		return 0, fmt.Errorf("no LayoutCount among %d metrics", len(r.Metrics))
	}))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestBrowserDrawsOncePerFrame: however fast poold's messages come, the
// page lays itself out at most once per frame. It used to redraw after
// each message, reading the charts' sizes and colours from the layout
// each time (a forced layout of the whole page, per message): with many
// watchers under churn, the page fell minutes behind poold while it said
// "live".
func TestBrowserDrawsOncePerFrame(t *testing.T) {
	ctx := newBrowser(t)
	spec := map[string]int{}
	for i := range 20 {
		spec[fmt.Sprintf("w%02d", i)] = 3
	}
	fake := newFakeBackend(t, spec)
	ts := startServer(t, fake, configs.Web{}, func(tu *tunings) { tu.statsFlush = time.Millisecond })
	if err := chromedp.Do(ctx, chromedp.Navigate(ts.url+"/")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the live connection", `document.querySelector('#conn').textContent === 'live'`)
	waitAllRows(t, ctx, fake, 60)
	if err := chromedp.Do(ctx,
		chromedp.Action[chromedp.Void](func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			_, err := cdp.Call(ctx, tg, performance.Enable, performance.EnableParams{})
			return chromedp.Void{}, err
		}),
		chromedp.Evaluate[chromedp.Void](`window.framesSeen = 0; (function tick() { window.framesSeen++; requestAnimationFrame(tick); })()`),
	); err != nil {
		t.Fatal(err)
	}
	layouts0 := layoutCount(t, ctx)
	frames0, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`window.framesSeen`))
	if err != nil {
		t.Fatal(err)
	}

	// Stats rounds as fast as the hub passes them on: each round is a
	// message that changes every process row and chart.
	const rounds = 45
	stats := followStats(t, ctx)
	for range rounds {
		fake.Sample(true)
	}
	stats.drawn(t, fake.roundsDone()) // the page has drawn them all

	layouts := layoutCount(t, ctx) - layouts0
	frames, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`window.framesSeen`))
	if err != nil {
		t.Fatal(err)
	}
	frames -= frames0
	t.Logf("%d stats rounds: %.0f layouts in %.0f frames", rounds, layouts, frames)
	if layouts > frames+2 {
		t.Errorf("%.0f layouts in %.0f frames: the page lays itself out more than once a frame", layouts, frames)
	}
}
