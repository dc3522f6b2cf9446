package arbiter

import (
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/poold/poold/arbiter/logsink"
	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/proctest"
)

// TestLogLevelDoesNotFilterWorkerOutput: with log_level = "warn" poold
// dropped every line its workers wrote to the "stderr" sink, and counted
// none (a circus.ini with loglevel = WARNING converts to just that).
// log_level is for poold's own lines; circusd and supervisord never
// filter a child's output by it.
func TestLogLevelDoesNotFilterWorkerOutput(t *testing.T) {
	out := &syncBuffer{}
	logs := logsink.New(out, logsink.Options{})
	done := make(chan struct{})
	go func() { defer close(done); logs.Run() }()
	t.Cleanup(func() { logs.Close(); <-done })
	w := testWatcher("chatty", "lines", 1)
	w.Env = append(w.Env, "LINES_N=3", "LINES_STDOUT_ONLY=1", "LINES_DONE="+t.TempDir())
	w.Respawn = false
	cfg := &configs.Config{Arbiter: configs.DefaultArbiter(), Watchers: []configs.Watcher{w}}
	cfg.Arbiter.LogLevel = "warn"
	log := hclog.New(&hclog.LoggerOptions{Name: "poold", Level: hclog.Warn, Output: logs})
	start(t, cfg, Options{Log: log, Logs: logs})
	proctest.Eventually(t, "the worker's lines reach poold's stderr", func() bool {
		return strings.Contains(out.String(), "poold.worker: out 3")
	})
	if s := out.String(); strings.Contains(s, "[INFO]  socket") || strings.Contains(s, "containment:") {
		t.Errorf("poold's own info lines passed log_level warn:\n%s", s)
	}
}
