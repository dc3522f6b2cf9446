package web

import (
	"strings"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/poold/poold/configs"
)

// TestBrowserNarrowScreen: on a phone-sized screen (375 px) the page does
// not scroll sideways, and a process's kill button is on screen where a
// tap reaches it. The cards' process tables used to widen the whole page
// to their unwrapped width, and the card clipped the table's last column,
// so kill and signal could not be reached at all.
func TestBrowserNarrowScreen(t *testing.T) {
	ctx := newBrowser(t)
	if _, err := chromedp.Call(ctx, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{
		Width: 375, Height: 800, DeviceScaleFactor: 1, Mobile: true}); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, newFakeBackend(t, map[string]int{"a-watcher-with-a-long-name": 2}), configs.Web{}, nil)
	if err := chromedp.Do(ctx, chromedp.Navigate(ts.url+"/")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the process rows", rowsExpr("a-watcher-with-a-long-name", 2))
	widths := evalJS[[]float64](t, ctx, `[document.documentElement.scrollWidth, document.documentElement.clientWidth]`)
	if widths[0] > widths[1] {
		saveScreenshot(t, ctx, "narrow.png")
		t.Errorf("at 375 px the page is %.0f px wide: it scrolls sideways", widths[0])
	}
	// The kill button, scrolled into view as a keyboard's focus does, is
	// what a tap at its middle reaches.
	reach := evalJS[bool](t, ctx, `(() => {
		const b = document.querySelector('article.watcher tr[data-pid] button[data-act="kill"]');
		b.scrollIntoView({block: "center", inline: "nearest"});
		const r = b.getBoundingClientRect();
		const at = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
		return r.width > 0 && at === b;
	})()`)
	if !reach {
		saveScreenshot(t, ctx, "narrow-kill.png")
		t.Error("at 375 px a process's kill button cannot be reached: it lies outside its card")
	}
}

// TestBrowserNarrowLongName: on a phone, a watcher's name of 64
// characters without a hyphen to break at (poold's longest) wraps inside
// its card; it ran past the card's edge and was cut off there.
func TestBrowserNarrowLongName(t *testing.T) {
	ctx := newBrowser(t)
	if _, err := chromedp.Call(ctx, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{
		Width: 400, Height: 800, DeviceScaleFactor: 1, Mobile: true}); err != nil {
		t.Fatal(err)
	}
	name := "long.watcher_name_" + strings.Repeat("x", 46)
	ts := startServer(t, newFakeBackend(t, map[string]int{name: 1}), configs.Web{}, nil)
	if err := chromedp.Do(ctx, chromedp.Navigate(ts.url+"/")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the process row", rowsExpr(name, 1))
	over := evalJS[float64](t, ctx, `(() => {
		const card = document.querySelector('article.watcher'), h = card.querySelector('h3');
		const r = document.createRange(); r.selectNodeContents(h);
		return r.getBoundingClientRect().right - card.getBoundingClientRect().right;
	})()`)
	if over > 0 {
		saveScreenshot(t, ctx, "narrow-name.png")
		t.Errorf("at 400 px the watcher's name runs %.0f px past its card's edge: its end is cut off", over)
	}
}
