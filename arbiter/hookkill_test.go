package arbiter

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher/proctest"
)

// A stop or kill that goes past a gating hook (a hung before_stop, a
// before_start still running) used to leave the hook running until
// hook_timeout, after the watcher had stopped; its late outcome was then
// published after the stop. The hook's group is now killed at once.
func TestHookAStopWentPastIsKilled(t *testing.T) {
	t.Run("kill during before_stop", func(t *testing.T) {
		h, pidFile := startWithHungHook(t, "before_stop")
		h.spawns(1)
		h.do("stop", map[string]any{"name": "web"})
		pid := waitHookPid(t, pidFile)
		h.do("kill", map[string]any{"name": "web", "signum": "KILL"})
		h.next(string(events.KindStop), func(ev events.Event) bool { return ev.Watcher == "web" })
		waitProcessGone(t, pid)
	})
	t.Run("kill during before_start", func(t *testing.T) {
		h, pidFile := startWithHungHook(t, "before_start")
		pid := waitHookPid(t, pidFile)
		h.do("kill", map[string]any{"name": "web", "waiting": true})
		waitProcessGone(t, pid)
		if r := h.do("status", map[string]any{"name": "web"}); r["status"] != "stopped" {
			t.Errorf("status after the kill: %v", r)
		}
	})
	t.Run("stop during before_start", func(t *testing.T) {
		h, pidFile := startWithHungHook(t, "before_start")
		pid := waitHookPid(t, pidFile)
		h.do("stop", map[string]any{"name": "web", "waiting": true})
		waitProcessGone(t, pid)
		if r := h.do("status", map[string]any{"name": "web"}); r["status"] != "stopped" {
			t.Errorf("status after the stop: %v", r)
		}
	})
}

// startWithHungHook starts watcher web (one worker) whose hook is a
// script that writes its pid to the file returned, then hangs.
func startWithHungHook(t *testing.T, hook string) (*harness, string) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "hook.pid")
	w := testWatcher("web", "sleep", 1)
	w.HookTimeout = 10 * time.Minute // longer than any wait of the tests: only a kill ends it
	w.Hooks = map[string]string{hook: hookScript(t, dir, "hung.sh", "echo $$ > "+pidFile+".tmp && mv "+pidFile+".tmp "+pidFile+"\nexec sleep 60\n")}
	return start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{}), pidFile
}

// waitHookPid waits for a hung hook to have written its pid.
func waitHookPid(t *testing.T, pidFile string) int {
	t.Helper()
	var b []byte
	if !proctest.Poll(10*time.Second, func() bool {
		var err error
		b, err = os.ReadFile(pidFile)
		return err == nil
	}) {
		t.Fatal("the hook did not start within 10 s")
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("hook pid file: %v", err)
	}
	return pid
}

// waitProcessGone fails unless pid is gone within 10 s; the hook itself
// would live for 60.
func waitProcessGone(t *testing.T, pid int) {
	t.Helper()
	if !proctest.Poll(10*time.Second, func() bool { return !proctest.Alive(pid) }) {
		t.Fatalf("the hook (pid %d) still runs 10 s after the stop went past it", pid)
	}
}
