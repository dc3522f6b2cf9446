package web

import (
	"testing"

	"github.com/poold/poold/configs"
)

// TestChartPointsFollowTheView: every watcher's chart point was most of
// a stats round for a page that shows a few cards (200 watchers x ~40
// B). A page that gives since with its view gets the points of the
// cards it shows only, none while its tab is hidden (an empty view), and
// for a card shown again, the points it missed, after its last one.
func TestChartPointsFollowTheView(t *testing.T) {
	fake := newFakeBackend(t, map[string]int{"web": 2, "worker": 2, "other": 2})
	ts := startServer(t, fake, configs.Web{}, nil)
	c := dialConsole(t, ts)
	c.loadedState()
	stats := func(what string) map[string]any {
		t.Helper()
		fake.Sample(true)
		return c.next(what, func(m map[string]any) bool { return m["type"] == "stats" && m["points"] != nil })
	}
	// view sends the page's view and reads until its reply, keeping a
	// history message the server may send before that reply (either order
	// is fine for the page).
	view := func(id string, props map[string]any) (history map[string]any) {
		t.Helper()
		c.send(id, "console_view", props)
		r := c.next("reply "+id, func(m map[string]any) bool {
			if m["type"] == "history" {
				history = m
			}
			return m["type"] == "reply" && m["id"] == id
		})
		if rr, _ := r["reply"].(map[string]any); rr["status"] != "ok" {
			t.Fatalf("console_view: %v", r)
		}
		return history
	}
	// Before any view: every point (the page had them all until now).
	m := stats("a round before the view")
	lastWorker := m["points"].(map[string]any)["worker"].([]any)[0].(float64)

	view("v1", map[string]any{"names": []string{"web"}, "since": map[string]any{}})
	var missed []float64
	for range 2 {
		m = stats("a round with web shown")
		pts, _ := m["points"].(map[string]any)
		if len(pts) != 1 || pts["web"] == nil {
			t.Fatalf("a page showing web got chart points of %v, want web's only", keysOf(pts))
		}
		missed = append(missed, pts["web"].([]any)[0].(float64)) // the round's time, as points have it
	}

	h := view("v2", map[string]any{"names": []string{"web", "worker"}, "since": map[string]any{"worker": lastWorker}})
	if h == nil {
		h = c.next("worker's missed points", func(m map[string]any) bool { return m["type"] == "history" })
	}
	hist, _ := h["history"].(map[string]any)
	pts, _ := hist["worker"].([]any)
	if len(hist) != 1 || len(pts) != len(missed) {
		t.Fatalf("worker shown again got history %v, want worker's %d points after %v", hist, len(missed), lastWorker)
	}
	for i, p := range pts {
		if at := p.([]any)[0].(float64); at != missed[i] {
			t.Errorf("worker's missed point %d at %v, want %v", i, at, missed[i])
		}
	}
	m = stats("a round with web and worker shown")
	if pts, _ := m["points"].(map[string]any); len(pts) != 2 || pts["worker"] == nil || pts["web"] == nil {
		t.Errorf("a page showing web and worker got chart points of %v, want theirs", keysOf(pts))
	}

	// A hidden tab shows nothing.
	view("v3", map[string]any{"names": []string{}, "since": map[string]any{}})
	m = stats("a round while hidden")
	if pts, _ := m["points"].(map[string]any); len(pts) != 0 {
		t.Errorf("a hidden page got chart points of %v, want none", keysOf(pts))
	}
	if s, _ := m["samples"].(map[string]any); len(s) != 0 {
		t.Errorf("a hidden page got samples of %v, want none", keysOf(s))
	}
}
