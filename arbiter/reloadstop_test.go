package arbiter

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/poold/poold/configs"
)

// stoppingPoold runs a stubborn watcher stub and a config Load that adds
// watcher late to it, calling enter and then waiting for release when set.
func stoppingPoold(t *testing.T, enter func(), release <-chan struct{}) (*harness, *atomic.Int32, []int) {
	stub := stubbornOn("stub", "s", 1)
	cfg := configs.Config{Sockets: []configs.Socket{tcpSocket("s")}, Watchers: []configs.Watcher{stub}}
	loads := &atomic.Int32{}
	h := start(t, &cfg, Options{Load: func() (*configs.Config, error) {
		loads.Add(1)
		if enter != nil {
			enter()
			<-release
		}
		c := cfg
		c.Watchers = []configs.Watcher{stub, testWatcher("late", "sleep", 1)}
		return &c, nil
	}})
	return h, loads, answering(t, h, "s", 1)
}

func noReloadApplied(t *testing.T, h *harness) {
	t.Helper()
	if log := h.log.String(); strings.Contains(log, "[ERROR]") || strings.Contains(log, "config reload applying") {
		t.Errorf("a reload was applied or an error logged while poold stopped:\n%s", log)
	}
}

// TestSIGHUPWhilePooldStopsIsIgnored: a SIGHUP during poold's graceful
// stop was applied: it added and started a watcher that the stop then cut
// short, and logged an ERROR in a clean shutdown. It is now ignored with
// an INFO line, and the file is not read; reloadconfig is refused.
func TestSIGHUPWhilePooldStopsIsIgnored(t *testing.T) {
	h, loads, old := stoppingPoold(t, nil, nil)
	h.do("quit", nil)
	h.waitStatus("stub", "stopping")
	h.a.Reload() // SIGHUP
	// The loop takes its inbox in order: the SIGHUP was handled by the
	// time this is answered.
	r := <-doAsync(h, "reloadconfig", map[string]any{"waiting": true})
	if r["status"] != "error" || !strings.Contains(fmt.Sprint(r["reason"]), "poold is shutting down") {
		t.Errorf("reloadconfig while poold stops: %v, want it refused", r)
	}
	if !strings.Contains(h.log.String(), "[INFO]  config reload ignored: poold is stopping") {
		t.Errorf("no INFO line says the SIGHUP was ignored")
	}
	if n := loads.Load(); n != 0 {
		t.Errorf("the config was read %d times while poold stopped", n)
	}
	noReloadApplied(t, h)
	killAll(t, old)
}

// TestReloadUnderWayWhenPooldStopsIsNotApplied: a reload whose file was
// being read when the stop began is not applied either; a waited
// reloadconfig says why.
func TestReloadUnderWayWhenPooldStopsIsNotApplied(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	h, _, old := stoppingPoold(t, func() { close(entered) }, release)
	reply := doAsync(h, "reloadconfig", map[string]any{"waiting": true})
	<-entered
	h.do("quit", nil)
	h.waitStatus("stub", "stopping")
	close(release)
	r := <-reply
	if r["status"] != "error" || !strings.Contains(fmt.Sprint(r["reason"]), "poold is stopping, so the config is not reloaded") {
		t.Errorf("reloadconfig whose file was read as poold began to stop: %v, want an error saying poold is stopping", r)
	}
	noReloadApplied(t, h)
	killAll(t, old)
}
