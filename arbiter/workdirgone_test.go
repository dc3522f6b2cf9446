package arbiter

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/proctest"
)

// TestRespawnNamesAWorkingDirRemovedUnderIt: the working_dir of a running
// watcher was removed (a deploy that swaps release directories), then its
// worker died. Every respawn failed with "start /path/of/the/program:
// fork/exec /path/of/the/program: no such file or directory", naming a
// program that is there and not the directory that is not. The slot's
// last exit now names working_dir and the directory, and what to do.
func TestRespawnNamesAWorkingDirRemovedUnderIt(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "release")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	w := testWatcher("app", "sleep", 1)
	w.WorkingDir = dir
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{})
	pid := h.spawned()
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var last string
	proctest.Eventually(t, "a respawn of slot 1 failing", func() bool {
		st := h.do("status", map[string]any{"name": "app"})
		slots := st["slots"].([]map[string]any)
		last = fmt.Sprint(slots[0]["last_exit"])
		return strings.HasPrefix(last, "spawn error")
	})
	want := "working_dir " + dir + ": no such file or directory"
	if !strings.Contains(last, want) {
		t.Errorf("last exit %q, want it to name %q", last, want)
	}
}
