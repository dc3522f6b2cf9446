package arbiter

import (
	"strings"
	"testing"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
)

// TestPriorityHoldsAroundADependency: a watcher with a dependency was
// started after every watcher without one, whatever the priorities: web
// (priority 5, depends_on db of priority 1) started after other
// (priority 0), and at quit stopped before it, against "higher starts
// first and stops last". A dependency now starts as early as what needs
// it asks: db, web, other; the stop is the reverse.
func TestPriorityHoldsAroundADependency(t *testing.T) {
	db := testWatcher("db", "sleep", 1)
	db.Priority = 1
	web := testWatcher("web", "sleep", 1)
	web.Priority = 5
	web.DependsOn = []string{"db"}
	other := testWatcher("other", "sleep", 1)
	other.Priority = 0
	h := start(t, &configs.Config{Watchers: []configs.Watcher{other, web, db}}, Options{})
	var order []string
	for len(order) < 3 {
		order = append(order, h.next(string(events.KindSpawn), nil).Watcher)
	}
	if got := strings.Join(order, ","); got != "db,web,other" {
		t.Errorf("start order %s, want db,web,other", got)
	}
	h.do("stop", map[string]any{"waiting": true})
	order = nil
	for len(order) < 3 {
		order = append(order, h.next(string(events.KindStop), func(ev events.Event) bool { return ev.Watcher != "" }).Watcher)
	}
	if got := strings.Join(order, ","); got != "other,web,db" {
		t.Errorf("stop order %s, want other,web,db", got)
	}
}
