package web

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/configs"
)

// openThirtyCards opens a console of 30 watchers of 2 processes each in
// a 1200x800 view, most cards out of view, once every process is shown.
func openThirtyCards(t *testing.T) (context.Context, *fakeBackend) {
	t.Helper()
	ctx := newBrowser(t)
	spec := map[string]int{}
	for i := range 30 {
		spec[fmt.Sprintf("w%02d", i)] = 2
	}
	fake := newFakeBackend(t, spec)
	ts := startServer(t, fake, configs.Web{}, func(tu *tunings) { tu.statsFlush = time.Millisecond })
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1200, 800), chromedp.Navigate(ts.url+"/")); err != nil {
		t.Fatal(err)
	}
	waitAllRows(t, ctx, fake, 60)
	return ctx, fake
}

// waitAllRows waits until the page has n processes: a row each in the
// cards in view, and the header's count for a card out of view, whose
// table is drawn only once it comes into view (drawCard). Counting rows
// alone failed under load whenever the browser said a card was out of
// view before its processes came (CI: w11-w19 undrawn, as designed). It
// says otherwise which cards differ from the fake backend.
func waitAllRows(t *testing.T, ctx context.Context, fake *fakeBackend, n int) {
	t.Helper()
	waitJSExplained(t, ctx, "every process", fmt.Sprintf(`[...document.querySelectorAll('article[data-watcher]')].reduce((n, c) => n +
		(c.querySelector('table').checkVisibility({contentVisibilityAuto: true}) ? c.querySelectorAll('tr[data-pid]').length :
			+((c.querySelector('.count .num') || {}).textContent || 0)), 0) === %d`, n),
		func() string { return cardsVersusBackend(ctx, fake) })
}

// cardsVersusBackend says, per card whose rows differ from the fake
// backend's processes, what the page shows (rows, the header's count,
// whether the card is skipped out of view) and holds (its model's pids,
// offscreen and procsStale), and what the backend has.
func cardsVersusBackend(ctx context.Context, fake *fakeBackend) string {
	type card struct {
		Rows    []string `json:"rows"`
		Model   []string `json:"model"`
		Count   string   `json:"count"`
		Skipped bool     `json:"skipped"`
		Off     bool     `json:"offscreen"`
		Stale   bool     `json:"stale"`
	}
	cards, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]card](`import("/static/conn.js").then((m) => Object.fromEntries(
		[...document.querySelectorAll('article[data-watcher]')].map((c) => {
			const w = m.st.watchers.get(c.dataset.watcher) || {view: {procs: {}}};
			return [c.dataset.watcher, {
				rows: [...c.querySelectorAll('tr[data-pid]')].map((r) => r.dataset.pid),
				model: Object.keys(w.view.procs),
				count: c.querySelector('.count').textContent,
				skipped: !c.querySelector('table').checkVisibility({contentVisibilityAuto: true}),
				offscreen: !!w.offscreen, stale: !!w.procsStale,
			}];
		})))`, chromedp.EvalAwaitPromise))
	if err != nil {
		return "cards: " + err.Error()
	}
	conn, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#conn').textContent`))
	fake.mu.Lock()
	defer fake.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "connection %q, %d cards, %d stats rounds", conn, len(cards), fake.rounds)
	names := make([]string, 0, len(fake.watchers))
	for name := range fake.watchers {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		var pids []string
		for pid := range fake.watchers[name].procs {
			pids = append(pids, strconv.Itoa(pid))
		}
		sort.Strings(pids)
		c, ok := cards[name]
		rows := append([]string(nil), c.Rows...)
		sort.Strings(rows)
		if ok && slices.Equal(rows, pids) {
			continue
		}
		fmt.Fprintf(&b, "\n%s: card %v, rows %v, model %v, header %q, skipped %v, offscreen %v, stale %v; backend pids %v",
			name, ok, c.Rows, c.Model, c.Count, c.Skipped, c.Off, c.Stale, pids)
	}
	return b.String()
}

// TestBrowserOffscreenCardsWait: a card out of view is neither laid out
// (content-visibility) nor has its charts drawn, until it is scrolled
// into view. An idle console of 65 watchers and 311 workers used about a
// third of a core laying out and painting a 17,000 px page once a second.
func TestBrowserOffscreenCardsWait(t *testing.T) {
	ctx, fake := openThirtyCards(t)
	card := func(name string) string {
		return fmt.Sprintf(`document.querySelector('article[data-watcher=%q]')`, name)
	}
	// A card's contents are skipped (the card itself keeps its place).
	table := func(name string) string { return card(name) + `.querySelector('table')` }
	waitJS(t, ctx, "w29's card skipped while out of view", `!`+table("w29")+`.checkVisibility({contentVisibilityAuto: true})`)
	waitJS(t, ctx, "w00's card shown", table("w00")+`.checkVisibility({contentVisibilityAuto: true})`)
	// Two frames: the page has seen the card's state change.
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`new Promise((ok) => requestAnimationFrame(() => requestAnimationFrame(ok)))`, chromedp.EvalAwaitPromise)); err != nil {
		t.Fatal(err)
	}
	// One round at a time, each drawn before the next: rounds sampled
	// back to back can reach the hub in one batch, which makes one chart
	// point, and a chart of one point draws nothing (1 in 3 runs under
	// load).
	stats := followStats(t, ctx)
	for range 5 {
		fake.Sample(true)
		stats.drawn(t, fake.roundsDone())
	}
	waitJSExplained(t, ctx, "w00's chart", chartSpanExpr("w00", 0.001), func() string {
		times, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](histTimes("w00"), chromedp.EvalAwaitPromise))
		return fmt.Sprintf("w00's chart points at %v (%v)", times, err)
	})
	drawn, err := chromedp.Run(ctx, chromedp.Evaluate[bool](chartSpanExpr("w29", 0.001)))
	if err != nil {
		t.Fatal(err)
	}
	if drawn {
		t.Errorf("w29's chart was drawn while its card was out of view")
	}
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](card("w29")+`.scrollIntoView()`)); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "w29's chart, once in view", chartSpanExpr("w29", 0.001))
}

// TestBrowserOffscreenTablesWait: the process table of a card out of
// view is not redrawn at each stats round, and shows the latest samples
// once it scrolls into view. With 100 watchers and 2,000 workers,
// redrawing every table each second kept the page's main thread busy
// most of the time.
func TestBrowserOffscreenTablesWait(t *testing.T) {
	ctx, fake := openThirtyCards(t)
	card := `document.querySelector('article[data-watcher="w29"]')`
	waitJS(t, ctx, "w29's card skipped while out of view", `!`+card+`.querySelector('table').checkVisibility({contentVisibilityAuto: true})`)
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`new Promise((ok) => requestAnimationFrame(() => requestAnimationFrame(ok)))`, chromedp.EvalAwaitPromise)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`window.__changes = 0;
		new MutationObserver((l) => { window.__changes += l.length; }).observe(`+card+`.querySelector('tbody'), {subtree: true, childList: true, characterData: true, attributes: true})`)); err != nil {
		t.Fatal(err)
	}
	stats := followStats(t, ctx)
	for range 5 {
		fake.Sample(true)
	}
	stats.drawn(t, fake.roundsDone())
	if n := evalJS[int](t, ctx, `window.__changes`); n != 0 {
		t.Errorf("w29's process table changed %d times while out of view", n)
	}
	fake.mu.Lock()
	want := map[int]string{}
	w := fake.watchers["w29"]
	for pid, p := range w.procs {
		want[pid] = fake.info(w, p)["mem_info1"].(string)
	}
	fake.mu.Unlock()
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](card+`.scrollIntoView()`)); err != nil {
		t.Fatal(err)
	}
	for pid, rss := range want {
		waitJS(t, ctx, fmt.Sprintf("w29's pid %d with its last RSS %s", pid, rss),
			fmt.Sprintf(`%s.querySelector('tr[data-pid="%d"]').cells[4].textContent === %q`, card, pid, rss))
	}
}

// TestBrowserOffscreenHeadersStill: a stats round that changes nothing a
// card's header shows (its status, counts, command, options) leaves the
// header's nodes as they are, in view or not. With 200 watchers and
// 2,000 workers, rebuilding every card's header each second took the
// page's main thread ~170 ms a round. A change the header shows (here
// the target after an incr) is still drawn.
func TestBrowserOffscreenHeadersStill(t *testing.T) {
	ctx, fake := openThirtyCards(t)
	card := `document.querySelector('article[data-watcher="w29"]')`
	waitJS(t, ctx, "w29's card skipped while out of view", `!`+card+`.querySelector('table').checkVisibility({contentVisibilityAuto: true})`)
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`new Promise((ok) => requestAnimationFrame(() => requestAnimationFrame(ok)))`, chromedp.EvalAwaitPromise)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`window.__changes = {};
		for (const name of ["w00", "w29"]) {
			const c = document.querySelector('article[data-watcher="' + name + '"]');
			window.__changes[name] = [];
			for (const part of [c.querySelector('.whead'), c.querySelector('.wreason'), c.querySelector('.wmeta')])
				new MutationObserver((l) => { for (const m of l) {
					// The charts' values follow the samples, in view.
					const el = m.target.nodeType === 1 ? m.target : m.target.parentElement;
					if (el.closest('.chart')) continue;
					window.__changes[name].push(m.type + " " + (el.className || el.nodeName));
				} })
					.observe(part, {subtree: true, childList: true, characterData: true, attributes: true});
		}`)); err != nil {
		t.Fatal(err)
	}
	stats := followStats(t, ctx)
	for range 5 {
		fake.Sample(true)
	}
	stats.drawn(t, fake.roundsDone())
	got := evalJS[map[string][]string](t, ctx, `window.__changes`)
	for name, changes := range got {
		if len(changes) > 0 {
			t.Errorf("%s's header changed %d times in 5 stats rounds that changed nothing it shows: %q", name, len(changes), changes[:min(len(changes), 6)])
		}
	}
	reply := fake.Do(context.Background(), arbiter.Request{ID: "t", Command: "incr", Properties: map[string]any{"name": "w29"}})
	if reply["status"] != "ok" {
		t.Fatalf("incr w29: %v", reply)
	}
	waitJS(t, ctx, "w29's target 3 after the incr", card+`.querySelector('.wactions .group').textContent.includes("3")`)
}

// TestBrowserScrolledButtonNotUnderHeader: a card's button scrolled to
// the top of the view shows below the sticky header, not under it, where
// a click reaches the header instead (chromedp's Click did exactly that
// at 200 watchers: 8 clicks on "+", no incr).
func TestBrowserScrolledButtonNotUnderHeader(t *testing.T) {
	ctx, _ := openThirtyCards(t)
	for _, width := range []int64{1200, 400} {
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(width, 800)); err != nil {
			t.Fatal(err)
		}
		// The scroll padding follows the header's height from a
		// ResizeObserver, which runs with the next rendered frame: under
		// load the scroll below could come first, with the padding of
		// the previous width (a header that wraps at 400 px is taller).
		waitJS(t, ctx, "the scroll padding to follow the header at this width",
			`document.documentElement.style.scrollPaddingTop === (document.querySelector('header.top').offsetHeight + 8) + 'px'`)
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`new Promise((ok) => {
			const b = document.querySelector('article[data-watcher="w15"] [data-act="incr"]');
			b.scrollIntoView();
			requestAnimationFrame(() => requestAnimationFrame(() => {
				const r = b.getBoundingClientRect();
				const at = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
				ok(at === b ? "" : "at its centre (" + (r.y|0) + " px from the top) is " + (at ? at.tagName + "." + at.className : "nothing"));
			}));
		})`, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		if got != "" {
			t.Errorf("at %d px wide, w15's + scrolled into view: %s, not the button", width, got)
		}
	}
}
