package arbiter

import (
	"fmt"
	"testing"
	"time"

	"github.com/poold/poold/configs"
)

// TestCommandsAreServedWhileManyWatchersStart: each watcher started its
// batch in the same turn of the loop, so a start (or restart) of 100
// watchers of 20 workers forked all 2,000 before the loop took its next
// message: status waited 5 s. The loop's turn has one budget for all
// watchers now, and the ones waiting for more take turns behind the
// commands that came in: a command sent at start is answered while the
// last watcher in start order has few of its workers.
func TestCommandsAreServedWhileManyWatchersStart(t *testing.T) {
	const watchers, each = 30, 20 // each within a watcher's own batch (spawnBatch)
	cfg := &configs.Config{}
	// The workers are /bin/sleep, not this test binary: what is timed is
	// the loop's turns while it forks, and 600 race-built Go programs
	// starting and stopping cost a minute of CPU the test does not need.
	for i := range watchers {
		w := configs.DefaultWatcher(fmt.Sprintf("w%d", i))
		w.Cmd, w.Args, w.NumProcesses = "/bin/sleep", []string{"3600"}, each
		w.GracefulTimeout = 5 * time.Second
		cfg.Watchers = append(cfg.Watchers, w)
	}
	h := start(t, cfg, Options{})
	last := fmt.Sprintf("w%d", watchers-1)
	pids := h.do("list", map[string]any{"name": last})["pids"].([]int)
	if len(pids) >= each {
		t.Errorf("the first command was answered once %s had %d of its %d workers: the loop took no message while %d workers were forked",
			last, len(pids), each, watchers*each)
	}
	h.spawns(watchers * each) // every worker still starts
	for i := range watchers {
		name := fmt.Sprintf("w%d", i)
		if n := len(h.do("list", map[string]any{"name": name})["pids"].([]int)); n != each {
			t.Errorf("%s: %d workers, want %d", name, n, each)
		}
	}
}
