package web

import (
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/poold/poold/configs"
)

// TestBrowserReasonCountsDown: a flapping watcher's reason says when its
// slot is retried, "retrying in 40s", worded when poold answered. The
// page showed those words unchanged until the reason changed, while the
// slot's row below counted down; the reason now counts down with it.
func TestBrowserReasonCountsDown(t *testing.T) {
	ctx := newBrowser(t)
	fake := newFakeBackend(t, map[string]int{"worker": 1})
	ts := startServer(t, fake, configs.Web{}, nil)
	if err := chromedp.Do(ctx, chromedp.Navigate(ts.url+"/")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the worker watcher", rowsExpr("worker", 1))
	at := time.Now().Add(40 * time.Second).Unix()
	slots := failedSlots(fake.Pids("worker")[1])
	slots[1]["state"], slots[2]["retry_at"] = "running", float64(at)
	reason := "wid 3 is flapping: killed by signal KILL; 2 early deaths in a row; retrying in 40s; see its output: poolctl logs worker --wid 3"
	fake.Fail("worker", reason, slots)
	text := `document.querySelector('article[data-watcher="worker"] .wreason').textContent`
	waitJS(t, ctx, "the reason", fmt.Sprintf(`%s.startsWith('wid 3 is flapping: killed by signal KILL; 2 early deaths in a row; retrying in ')`, text))
	first, err := chromedp.Run(ctx, chromedp.Evaluate[string](text))
	if err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the reason's countdown to move on from "+first, fmt.Sprintf(`(() => {
		const now = %s;
		return now !== %q && /; retrying in \d+s; see its output: poolctl logs worker --wid 3$/.test(now);
	})()`, text, first))
}
