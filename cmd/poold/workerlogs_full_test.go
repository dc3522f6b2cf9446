package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/poold/poold/watcher/proctest"
)

// fullConfig: two fast writers; "full" logs into %[1]s (a small tmpfs),
// "calm" into %[2]s. Their stderr goes nowhere (stderr_log = "none").
const fullConfig = `
[arbiter]
ENDPOINTS
[watchers.full]
cmd = @WORKER@
env = ["POOLD_TEST_WORKER=lines", "LINES_FOR=1s", "LINES_DONE=%[3]s"]
stdout_log = "%[1]s/full.log"
stderr_log = "none"
[watchers.calm]
cmd = @WORKER@
env = ["POOLD_TEST_WORKER=lines", "LINES_FOR=1s", "LINES_DONE=%[4]s"]
stdout_log = "%[2]s/calm.log"
stderr_log = "none"
`

// smallTmpfs mounts a tmpfs of size bytes on a new temporary directory
// and unmounts it at cleanup.
func smallTmpfs(t *testing.T, size int) string {
	t.Helper()
	return mountTmpfs(t, "size="+strconv.Itoa(size))
}

// mountTmpfs mounts a tmpfs with options opts (size=, nr_inodes=) on a
// new temporary directory and unmounts it at cleanup. It skips when not
// root, except under CI=true (CI runs the suite as root).
func mountTmpfs(t *testing.T, opts string) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", opts, "tmpfs", dir).CombinedOutput()
	if err != nil {
		if os.Getenv("CI") != "true" && os.Geteuid() != 0 {
			t.Skipf("mounting a tmpfs needs root: %v: %s", err, out)
		}
		t.Fatalf("mount a tmpfs (%s) on %s: %v: %s", opts, dir, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// linesWritten waits for the "lines" worker that records into done to
// finish and returns how many lines it wrote a stream.
func linesWritten(t *testing.T, done string) int {
	t.Helper()
	if err := os.WriteFile(filepath.Join(done, "stop"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	n := 0
	proctest.Eventually(t, "the writer in "+done+" to finish", func() bool {
		ents, _ := os.ReadDir(done)
		for _, e := range ents {
			if e.Name() == "stop" || strings.HasSuffix(e.Name(), ".tmp") {
				continue
			}
			b, err := os.ReadFile(filepath.Join(done, e.Name()))
			n, _ = strconv.Atoi(string(b))
			return err == nil && n > 0
		}
		return false
	})
	return n
}

// A full filesystem under one watcher's log costs that watcher's lines,
// counted in status and reported once (log and log_error event, with the
// path), and nothing else: the other watcher's file gets every line, and
// poold keeps answering.
func TestFullDiskCostsOnlyThatWatchersLines(t *testing.T) {
	full, calm := smallTmpfs(t, 256<<10), t.TempDir()
	doneFull, doneCalm := t.TempDir(), t.TempDir()
	p := startPoold(t, fmt.Sprintf(fullConfig, full, calm, doneFull, doneCalm))
	c := dialControl(t, p)
	path := filepath.Join(full, "full.log")
	proctest.Eventually(t, "lines of full to be dropped", func() bool {
		r := call(t, c, "status", map[string]any{"name": "full"})
		lc, _ := r["logs"].(map[string]any)
		d, _ := lc["dropped"].(float64)
		return d > 0
	})
	nFull, nCalm := linesWritten(t, doneFull), linesWritten(t, doneCalm)
	r := call(t, c, "status", nil)
	lc, _ := r["logs"].(map[string]any)
	fullC, _ := lc["full"].(map[string]any)
	calmC, _ := lc["calm"].(map[string]any)
	if calmC["dropped"] != 0.0 {
		t.Errorf("calm dropped lines: %v", calmC)
	}
	if fullC["dropped_file"] != fullC["dropped"] || fullC["dropped_queue"] != 0.0 {
		t.Errorf("full's logs %v: want every dropped line counted as dropped_file", fullC)
	}
	ev := call(t, c, "events_since", map[string]any{"seq": 0, "topics": []string{"watcher.full.log_error"}})
	evs, _ := ev["events"].([]any)
	if len(evs) != 1 {
		t.Fatalf("log_error events of full: %v, want one", ev["events"])
	}
	if payload := evs[0].(map[string]any)["event"].(map[string]any); payload["path"] != path {
		t.Errorf("log_error event %v does not name %s", payload, path)
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(); code != 0 {
		t.Fatalf("poold exited with %d", code)
	}
	if got := strings.Count(p.log.String(), "cannot write a worker log file"); got != 1 {
		t.Errorf("the full disk was reported %d times in poold's log, want once", got)
	}
	if !strings.Contains(p.log.String(), "path="+path) {
		t.Errorf("poold's log does not name %s", path)
	}
	checkStream(t, calm, "calm.log", "out", nCalm)
	t.Logf("full: %d lines written by the worker, %v dropped; calm: %d lines, all kept", nFull, fullC["dropped"], nCalm)
}
