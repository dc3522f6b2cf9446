package circusini

import (
	"testing"
)

// TestStopChildrenAsCircus: circusd sends the stop signal to the worker
// alone unless stop_children = true. The translator dropped the key with
// a note and poold signalled the whole process group: a gunicorn master's
// workers got SIGTERM from poold and again from their master.
func TestStopChildrenAsCircus(t *testing.T) {
	cfg, _ := strictINI(t, "[watcher:plain]\ncmd = /bin/sleep 100\n\n[watcher:group]\ncmd = /bin/sleep 100\nstop_children = True\n\n[watcher:off]\ncmd = /bin/sleep 100\nstop_children = false\n")
	want := map[string]bool{"plain": false, "group": true, "off": false}
	for _, w := range cfg.Watchers {
		if w.StopChildren != want[w.Name] {
			t.Errorf("watcher %s: stop_children %t, want %t as circusd", w.Name, w.StopChildren, want[w.Name])
		}
	}
}
