package arbiter

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/proctest"
)

// Defect (r60 review): while poold stopped, every command that changes
// something was refused, `signal` too, so the README's way to cold-stop
// a job runner that reads QUIT (Celery) during poold's own stop, `poolctl
// signal NAME QUIT`, answered "poold is shutting down; signal refused",
// and only the third SIGTERM (SIGKILL, the job lost) was left. `signal`
// reaches the workers still stopping.
func TestSignalIsServedWhilePooldStops(t *testing.T) {
	ledger := filepath.Join(t.TempDir(), "ledger")
	w := configs.DefaultWatcher("jobs")
	w.Cmd = "/bin/sh"
	w.Args = []string{"-c", `trap 'echo warm >> "$LEDGER"' TERM; trap 'echo cold >> "$LEDGER"; exit 1' QUIT; echo up >> "$LEDGER"; while :; do sleep 0.05; done`}
	w.Env = []string{"LEDGER=" + ledger}
	w.StopChildren = false
	w.GracefulTimeout = time.Minute
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{})
	h.spawned()
	seen := func(line string) bool {
		b, _ := os.ReadFile(ledger)
		return strings.Contains(string(b), line+"\n")
	}
	proctest.Eventually(t, "the runner is up", func() bool { return seen("up") })
	h.do("quit", nil)
	proctest.Eventually(t, "the runner's warm shutdown", func() bool { return seen("warm") })
	h.do("signal", map[string]any{"name": "jobs", "signum": "QUIT"})
	proctest.Eventually(t, "the runner's cold shutdown", func() bool { return seen("cold") })
}
