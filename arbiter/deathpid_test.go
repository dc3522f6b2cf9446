package arbiter

import (
	"fmt"
	"strings"
	"testing"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher/proctest"
)

// TestWorkerDeathLogNamesThePid: "worker ended soon after start;
// restarting its slot after a delay" named the watcher and the wid but
// not the pid, while every line the worker wrote to poold's log carries
// only its pid and wid, and a wid is reused by each respawn: which
// worker's last lines explain the death could not be told. The warning
// now names the pid.
func TestWorkerDeathLogNamesThePid(t *testing.T) {
	w := testWatcher("crashy", "crash", 1)
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{})
	ev := h.next(string(events.KindReap), nil)
	pid := fmt.Sprint(ev.Fields["process_pid"])
	proctest.Eventually(t, "the death in the log", func() bool {
		return missing(h.log.String(), [][]string{{"worker ended", "watcher=crashy", "wid=1", "pid=" + pid + " "}}) == nil
	})
	if strings.Contains(h.log.String(), "pid=0 ") {
		t.Errorf("a death logged with pid=0:\n%s", h.log.String())
	}
}
