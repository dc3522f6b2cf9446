package web

import (
	"fmt"
	"os/exec"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/poold/poold/watcher/proctest"
)

// TestBrowserSizesAndOneShots holds the console to what poold says of a
// pool's size and of a one-shot's end (r55b console review, findings 2, 4
// and 5): a cold on_demand pool of numprocesses 2 showed "elastic 0–1",
// a one-shot that exited 0 a red "exited" row, and "+" at a pool's max
// or "−" at 0 said "ok" while nothing changed.
func TestBrowserSizesAndOneShots(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	url := startPooldWith(t, fmt.Sprintf(`
[sockets.front]
host = "127.0.0.1"
port = %d

[watchers.lazy]
cmd = %q
args = ["3600"]
sockets = ["front"]
on_demand = true
numprocesses = 2
graceful_timeout = "2s"

[watchers.done]
cmd = "/bin/sh"
args = ["-c", "sleep 0.3; exit 0"]
respawn = false

[watchers.broke]
cmd = "/bin/sh"
args = ["-c", "sleep 0.3; exit 3"]
respawn = false
`, proctest.FreePort(t), sleep))
	ctx := newBrowser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(url+"/")); err != nil {
		t.Fatal(err)
	}
	card := func(name string) string {
		return fmt.Sprintf(`document.querySelector('article[data-watcher=%q]')`, name)
	}

	t.Run("a cold on_demand pool shows its max", func(t *testing.T) {
		waitJS(t, ctx, "the lazy card's bounds", card("lazy")+`?.querySelector('.elastic b')?.textContent === "0–2"`)
	})

	t.Run("a one-shot that succeeded is not red and has no warning", func(t *testing.T) {
		row := func(name string) string { return card(name) + `?.querySelector('tr.slot[data-state="exited"] .st')` }
		waitJS(t, ctx, "the one-shot's exited row", row("done")+` && `+row("broke"))
		if cls := evalJS[string](t, ctx, row("done")+`.className`); cls != "st s-ok" {
			t.Errorf("the exited row of a one-shot that exited 0 is %q, want st s-ok", cls)
		}
		if cls := evalJS[string](t, ctx, row("broke")+`.className`); cls != "st s-bad" {
			t.Errorf("the exited row of a one-shot that exited 3 is %q, want st s-bad", cls)
		}
		// The card's reason box warns of the failure only.
		box := func(name string) string { return card(name) + `.querySelector('.wreason')` }
		waitJS(t, ctx, "the failed one-shot's reason", `!`+box("broke")+`.hidden`)
		if shown := evalJS[bool](t, ctx, `!`+box("done")+`.hidden`); shown {
			t.Errorf("the card of a one-shot that exited 0 shows a reason box: %q (%s)",
				evalJS[string](t, ctx, box("done")+`.textContent`), evalJS[string](t, ctx, box("done")+`.className`))
		}
	})

	t.Run("incr at the max and decr at 0 say nothing changed", func(t *testing.T) {
		button := func(act string) string { return card("lazy") + fmt.Sprintf(`.querySelector('[data-act=%q]')`, act) }
		outcome := card("lazy") + `.querySelector('.outcome').textContent`
		waitJS(t, ctx, "the lazy pool's buttons", button("decr")+` && !`+button("decr")+`.disabled`)
		evalJS[bool](t, ctx, button("decr")+`.click(), true`)
		waitJS(t, ctx, "decr at 0 says so", outcome+` === "= decr: no change: already at 0 workers"`)
		for n := range 2 {
			evalJS[bool](t, ctx, button("incr")+`.click(), true`)
			waitJS(t, ctx, fmt.Sprintf("incr %d", n+1), outcome+` === "✓ incr" && !`+button("incr")+`.disabled`)
			evalJS[bool](t, ctx, card("lazy")+`.querySelector('.outcome').textContent = "", true`)
		}
		evalJS[bool](t, ctx, button("incr")+`.click(), true`)
		waitJS(t, ctx, "incr at the max says so", outcome+` === "= incr: no change: already at its max of 2"`)
		waitJS(t, ctx, "the toast says so", `[...document.querySelectorAll('#toasts .toast')].some((t) => t.textContent === "lazy: incr — no change: already at its max of 2")`)
	})
}
