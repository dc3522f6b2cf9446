package web

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
)

// A worker that forks (a gunicorn master, `sh -c` around the real
// program) does next to nothing itself: its children hold the CPU and the
// memory. The watcher's chart point counts the whole tree, or a busy
// gunicorn pool charts as idle.
func TestChartPointCountsWorkersChildren(t *testing.T) {
	t.Parallel()
	fake := newFakeBackend(t, map[string]int{"web": 1})
	ts := startServer(t, fake, configs.Web{}, nil)
	c := dialConsole(t, ts)
	pid, n := c.onlyPid("web")
	grandchild := map[string]any{"pid": n + 2, "cpu": 9.0, "rss": 100, "children": []any{}}
	child := map[string]any{"pid": n + 1, "cpu": 40.0, "rss": 5000, "children": []any{grandchild}}
	fake.Stats.PublishTopic("stat.web."+pid, "web", events.KindStat, map[string]any{
		"pid": n, "name": "web", "subtopic": n, "cpu": 1.0, "rss": 1000, "children": []any{child},
	})
	st := c.next("stats", func(m map[string]any) bool {
		pts, _ := m["points"].(map[string]any)
		return m["type"] == "stats" && pts["web"] != nil
	})
	p := st["points"].(map[string]any)["web"].([]any)
	if p[1] != 50.0 || p[2] != 6100.0 {
		t.Errorf("chart point of web = cpu %v, rss %v; want 50 and 6100 (the worker, its child and grandchild)", p[1], p[2])
	}
}

// The console's process row of such a worker counts its tree too, and
// its title says how much is the worker's own.
func TestBrowserRowCountsWorkersChildren(t *testing.T) {
	ctx := newBrowser(t)
	fake := newFakeBackend(t, map[string]int{"web": 1})
	ts := startServer(t, fake, configs.Web{}, func(tu *tunings) { tu.statsFlush = 20 * time.Millisecond })
	if err := chromedp.Do(ctx, chromedp.Navigate(ts.url+"/")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the web watcher with 1 process", rowsExpr("web", 1))
	pid := fake.Pids("web")[1] // wid 1's
	child := map[string]any{"pid": pid + 1, "cpu": 40.0, "rss": 3 << 20, "children": []any{}}
	fake.Stats.PublishTopic("stat.web."+strconv.Itoa(pid), "web", events.KindStat, map[string]any{
		"pid": pid, "name": "web", "subtopic": pid, "cpu": 2.0, "rss": 1 << 20, "mem_info1": "1.00M", "children": []any{child},
	})
	waitJS(t, ctx, "the row with its child's cpu and memory", fmt.Sprintf(`(() => {
		const r = document.querySelector('tr[data-pid="%d"]');
		return !!r && r.cells[3].textContent.startsWith("42%%") && r.cells[3].title === "worker 2.0%% + 1 process under it" &&
			r.cells[4].textContent !== "1.00M" && r.cells[4].title.startsWith("worker 1.00M");
	})()`, pid))
}

// The fleet view's CPU of a watcher on another host counts its workers'
// children too.
func TestFleetCPUCountsWorkersChildren(t *testing.T) {
	t.Parallel()
	child := map[string]any{"pid": 102.0, "cpu": 40.0, "children": []any{}}
	infos := map[string]any{"web": map[string]any{
		"101": map[string]any{"pid": 101.0, "cpu": 1.5, "children": []any{child}},
	}}
	ws := fleetWatchers(map[string]any{"web": "active"}, infos)
	if len(ws) != 1 || ws[0].Procs != 1 || ws[0].CPU != 41.5 {
		t.Errorf("fleet watchers = %+v, want web with 1 process at 41.5 %% CPU", ws)
	}
}
