package web

import (
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/poold/poold/configs"
)

// TestBrowserShowsCgroupMemory (r63 memstats): a worker under memory_max
// shows, beside its RSS, what its cgroup is charged of the limit, which
// the OOM killer judges; marked near the limit, with the peak in its
// title. The console showed RSS only.
func TestBrowserShowsCgroupMemory(t *testing.T) {
	ctx := newBrowser(t)
	fake := newFakeBackend(t, map[string]int{"worker": 1})
	ts := startServer(t, fake, configs.Web{}, nil)
	if err := chromedp.Do(ctx, chromedp.Navigate(ts.url+"/")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the worker watcher", rowsExpr("worker", 1))
	fake.SetSampled("worker", map[string]any{
		"cgroup_memory": float64(60 << 20), "cgroup_memory_peak": float64(62 << 20), "memory_max": float64(64 << 20)})
	runSampler(t, fake, 200*time.Millisecond, false)
	pid := fake.Pids("worker")[1]
	cell := fmt.Sprintf(`document.querySelector('article[data-watcher="worker"] tr[data-pid="%d"]').cells[4]`, pid)
	waitJS(t, ctx, "the RSS cell with the cgroup's charge of memory_max, marked", fmt.Sprintf(`(() => {
		const c = %s;
		return /^\d+\.\dM · cgroup 60\.0M \/ 64\.0M$/.test(c.textContent) && c.classList.contains("s-warn") &&
			c.title.includes("of memory_max 64.0M (94%%), peak 62.0M");
	})()`, cell))
}
