package circusini

import (
	"testing"

	"github.com/poold/poold/configs/translate"
)

// TestMaxProcessesExtension: a circus.ini asking for more than 1,024
// workers can say so where the error points, in [watcher:NAME] and
// [circus] max_processes (a poold extension Circus ignores), and the
// errors name those ini keys, not poold's watchers.NAME.max_processes.
func TestMaxProcessesExtension(t *testing.T) {
	cfg, doc := strictINI(t, "[circus]\nmax_processes = 10000\n\n[watcher:w]\ncmd = /bin/sleep 100\nnumprocesses = 2000\nmax_processes = 4000\n")
	if w := cfg.Watchers[0]; w.NumProcesses != 2000 || w.MaxProcesses != 4000 || cfg.Arbiter.MaxProcesses != 10000 {
		t.Errorf("numprocesses %d, max_processes %d, arbiter max_processes %d", w.NumProcesses, w.MaxProcesses, cfg.Arbiter.MaxProcesses)
	}
	for _, key := range []string{"[circus] max_processes", "[watcher:w] max_processes"} {
		found := false
		for _, n := range doc.Notes {
			found = found || n.Level == translate.Info && "["+n.Section+"] "+n.Key == key
		}
		if !found {
			t.Errorf("no info note on %s: %v", key, doc.Notes)
		}
	}

	configError(t, "[watcher:w]\ncmd = /bin/sleep 100\nnumprocesses = 2000\n",
		"PATH:3: [watcher:w] numprocesses: 2000 is over max_processes 1024; raise [watcher:w] max_processes")
	configError(t, "[circus]\nmax_processes = 3000\n\n[watcher:w]\ncmd = /bin/sleep 100\nnumprocesses = 2000\nmax_processes = 2000\n\n[watcher:v]\ncmd = /bin/sleep 100\nnumprocesses = 2000\nmax_processes = 2000\n",
		"PATH:2: [circus] max_processes: the watchers ask for 4000 workers together, over [circus] max_processes 3000; lower numprocesses or raise [circus] max_processes")
}
