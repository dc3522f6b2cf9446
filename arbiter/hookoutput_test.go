package arbiter

import (
	"strings"
	"testing"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher/proctest"
)

// TestHookOutputReachesTheLog: a hook's output was kept only to quote
// its last line in the error of a failure, so what a before_start
// migration printed ("applied 3 migrations", a warning on stderr) was
// lost when it passed, and of a failing hook poold's log had one line.
// The failure of a worker's hook (after_spawn) did not name the worker
// either. Now each line of a hook's output is logged as it comes with the
// watcher, the hook and the stream (and the worker's pid and wid for a
// worker's hook), as systemd logs an ExecStartPre='s output, and the
// failure names the worker.
func TestHookOutputReachesTheLog(t *testing.T) {
	dir := t.TempDir()
	w := testWatcher("web", "serve", 1)
	w.Sockets = []string{"web"}
	w.Hooks = map[string]string{
		"before_start": hookScript(t, dir, "migrate.sh", "echo 'applied 3 migrations'\necho 'warning: table users is large' >&2\nprintf 'no newline at the end'\n"),
		"after_spawn":  hookScript(t, dir, "register.sh", "echo \"registering $POOLD_PID\"\necho 'registry down' >&2\nexit 2\n"),
	}
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{w}}, Options{})
	h.next(string(events.KindHookFailure), func(ev events.Event) bool { return ev.Fields["name"] == "after_spawn" })
	// Each entry: what one line of the log must hold (hclog orders the
	// fields its own way).
	want := [][]string{
		{"hook: applied 3 migrations:", "watcher=web", "hook=before_start", "stream=stdout"},
		{"hook: warning: table users is large:", "watcher=web", "hook=before_start", "stream=stderr"},
		{"hook: no newline at the end:", "hook=before_start", "stream=stdout"},
		{"hook: registering ", "hook=after_spawn", "pid=", "wid=1", "stream=stdout"},
		{"hook: registry down:", "hook=after_spawn", "wid=1", "stream=stderr"},
		{"hook failed:", "hook=after_spawn", "pid=", "wid=1", "registry down"},
	}
	proctest.Eventually(t, "the hooks' output in the log", func() bool {
		return missing(h.log.String(), want) == nil
	})
}

// missing returns the first entry of want that no line of log holds all
// of, nil when every one is there.
func missing(log string, want [][]string) []string {
	lines := strings.Split(log, "\n")
	for _, w := range want {
		found := false
		for _, line := range lines {
			all := true
			for _, s := range w {
				all = all && strings.Contains(line, s)
			}
			found = found || all
		}
		if !found {
			return w
		}
	}
	return nil
}
