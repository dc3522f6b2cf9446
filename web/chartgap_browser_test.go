package web

import (
	"context"
	"fmt"
	"testing"

	"github.com/chromedp/chromedp"
)

// histTimes is a page expression: the times of watcher's chart points,
// each once (a round's samples split over two flushes give two points),
// read from the page's model (the module the page loaded).
func histTimes(watcher string) string {
	return fmt.Sprintf(`import("/static/conn.js").then((m) => [...new Set((m.st.watchers.get(%q).hist || []).map((p) => p[0]))])`, watcher)
}

// gapIn is the first step between times longer than one stats round of
// the fake (1 s), or 0.
func gapIn(times []float64) float64 {
	for i := 1; i < len(times); i++ {
		if d := times[i] - times[i-1]; d > 1.001 {
			return d
		}
	}
	return 0
}

// TestBrowserChartPointsFollowTheView: a card out of view, or a hidden
// tab, gets no chart points (most of a stats round at 200 watchers); a
// card back in view gets those it missed, so its chart has no gap.
func TestBrowserChartPointsFollowTheView(t *testing.T) {
	ctx, fake := openThirtyCards(t)
	card := `document.querySelector('article[data-watcher="w29"]')`
	waitJS(t, ctx, "w29's card skipped while out of view", `!`+card+`.querySelector('table').checkVisibility({contentVisibilityAuto: true})`)
	frames := func() {
		t.Helper()
		if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`new Promise((ok) => requestAnimationFrame(() => requestAnimationFrame(ok)))`, chromedp.EvalAwaitPromise)); err != nil {
			t.Fatal(err)
		}
	}
	// One round at a time, each flushed and taken by the page before the
	// next: a batch of samples that spans two rounds makes one point of
	// both.
	stats := followStats(t, ctx)
	rounds := func(n int) {
		t.Helper()
		for range n {
			fake.Sample(true)
			stats.drawn(t, fake.roundsDone())
		}
	}
	frames()
	viewTaken(t, ctx)
	rounds(2)
	before := len(evalJSAwait[[]float64](t, ctx, histTimes("w29")))
	rounds(5)
	if got := len(evalJSAwait[[]float64](t, ctx, histTimes("w29"))); got != before {
		t.Errorf("w29 out of view got %d chart points, want none", got-before)
	}
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](card+`.scrollIntoView()`)); err != nil {
		t.Fatal(err)
	}
	want := fake.roundsDone()
	waitJS(t, ctx, "w29's points of every round", fmt.Sprintf(`%s.then((ts) => ts.length >= %d)`, histTimes("w29"), want))
	if g := gapIn(evalJSAwait[[]float64](t, ctx, histTimes("w29"))); g != 0 {
		t.Errorf("w29's chart has a gap of %vs once back in view", g)
	}
	waitJS(t, ctx, "w29's chart", chartSpanExpr("w29", 0.001))

	// A hidden tab: no points; shown again, the missed ones.
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`Object.defineProperty(document, "hidden", {configurable: true, get: () => true});
		document.dispatchEvent(new Event("visibilitychange"))`)); err != nil {
		t.Fatal(err)
	}
	frames()
	viewTaken(t, ctx)
	before = len(evalJSAwait[[]float64](t, ctx, histTimes("w29")))
	rounds(3)
	if got := len(evalJSAwait[[]float64](t, ctx, histTimes("w29"))); got != before {
		t.Errorf("a hidden tab got %d chart points of w29, want none", got-before)
	}
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`delete document.hidden; document.dispatchEvent(new Event("visibilitychange"))`)); err != nil {
		t.Fatal(err)
	}
	want = fake.roundsDone()
	waitJS(t, ctx, "w29's points of every round, the tab shown again", fmt.Sprintf(`%s.then((ts) => ts.length >= %d)`, histTimes("w29"), want))
	if g := gapIn(evalJSAwait[[]float64](t, ctx, histTimes("w29"))); g != 0 {
		t.Errorf("w29's chart has a gap of %vs once the tab is shown again", g)
	}
}

// viewTaken returns once poold's hub has taken the console_view the page
// sent last: a page's asks go through one reader, each handed to the hub
// before the next is read, so the reply to a later (empty) ask says the
// hub applied the view. Without it, a round sampled right after the view
// changed could be sent by the old view ("a hidden tab got 1 chart
// points", 1 in 40 runs under load).
func viewTaken(t *testing.T, ctx context.Context) {
	t.Helper()
	if got := evalJSAwait[string](t, ctx, `window.pooldConsole.send("console_history", {names: []}).then((r) => r.status)`); got != "ok" {
		t.Fatalf("console_history after the view changed: status %q", got)
	}
}

// evalJSAwait evaluates a promise expression and returns its value.
func evalJSAwait[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}
