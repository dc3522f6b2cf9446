package arbiter

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/poold/poold/arbiter/workerlog"
	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/proctest"
)

// shWorker is a watcher of one /bin/sh worker running script, its stdout
// into the file path.
func shWorker(name, script, path string) configs.Watcher {
	w := configs.DefaultWatcher(name)
	w.Cmd, w.Args = "/bin/sh", []string{"-c", script}
	w.Respawn = false
	w.Logs.Stdout, w.Logs.Stderr = path, configs.LogToNone
	return w
}

// ringLines are the lines of watcher name that `logs` returns.
func ringLines(h *harness, name string) []string {
	h.t.Helper()
	var out []string
	for _, r := range h.do("logs", map[string]any{"name": name, "lines": 100})["lines"].([]workerlog.Record) {
		out = append(out, r.Line)
	}
	return out
}

// Whole lines that one read brings together with the start of a line
// still unfinished go out at once: they used to wait, in the file and in
// `poolctl logs`, until the unfinished line got its newline or the worker
// exited. The unfinished line itself still waits for its newline.
func TestWholeLinesNotHeldBehindAnUnfinishedOne(t *testing.T) {
	path := filepath.Join(t.TempDir(), "part.log")
	// One write(2): the reader gets the two lines and "partial" together.
	w := shWorker("part", `printf 'full1\nfull2\npartial'; exec sleep 1000`, path)
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{})
	want := []string{"full1", "full2"}
	proctest.Eventually(t, "the two whole lines in the ring while the worker runs", func() bool {
		return slices.Equal(ringLines(h, "part"), want)
	})
	b, err := os.ReadFile(path)
	if err != nil || string(b) != "full1\nfull2\n" {
		t.Errorf("the file holds %q (%v), want %q", b, err, "full1\nfull2\n")
	}
	if pids := h.do("list", map[string]any{"name": "part"})["pids"].([]int); len(pids) != 1 {
		t.Errorf("pids %v: the worker should still run", pids)
	}
}
