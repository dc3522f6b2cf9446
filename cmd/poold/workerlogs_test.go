package main

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/watcher/proctest"
)

// fastConfig: one worker writing numbered lines to stdout and stderr as
// fast as it can for %[2]s, each stream into its own file under %[1]s,
// rotated at 1 MiB and gzipped.
const fastConfig = `
[arbiter]
ENDPOINTS
[watchers.fast]
cmd = @WORKER@
env = ["POOLD_TEST_WORKER=lines", "LINES_FOR=%[2]s", "LINES_DONE=%[3]s"]
stdout_log = "%[1]s/$(pool.name).out.log"
stderr_log = "%[1]s/$(pool.name).err.log"
log_max_size = "1M"
log_compress = true
graceful_timeout = "5s"
`

// fastWriterDuration is how long the writer of TestRotationAndReopenLoseNothing
// writes. The issue asks for 10 s; make test runs 3 s to stay in its
// budget; POOLD_SOAK_LINES_FOR (e.g. 10s) runs the full length.
func fastWriterDuration() string {
	if d := os.Getenv("POOLD_SOAK_LINES_FOR"); d != "" {
		return d
	}
	return "3s"
}

// A worker writing as fast as it can, with size rotation at 1 MiB, two
// `reopen`s and a SIGUSR1 after external renames (logrotate, create mode)
// in the middle: every line of each stream is in the files exactly once
// and in order, the last ones included, status answers throughout, and
// poold's peak RSS stays bounded.
func TestRotationAndReopenLoseNothing(t *testing.T) {
	logs, done := t.TempDir(), t.TempDir()
	p := startPoold(t, fmt.Sprintf(fastConfig, logs, fastWriterDuration(), done))
	c := dialControl(t, p)
	out, errLog := filepath.Join(logs, "fast.out.log"), filepath.Join(logs, "fast.err.log")
	renamed := 0
	// status must keep answering; under a writer at full speed on a
	// loaded 2-core box it may be slow, so the bound only catches a hang.
	var slowest time.Duration
	status := func(props map[string]any) arbiter.Reply {
		t.Helper()
		start := time.Now()
		r := call(t, c, "status", props)
		slowest = max(slowest, time.Since(start))
		if r["status"] == "error" {
			t.Fatalf("status: %v", r)
		}
		return r
	}
	rotateExternally := func(how string) {
		t.Helper()
		renamed++
		for _, f := range []string{out, errLog} {
			waitGrown(t, f)
			dst := fmt.Sprintf("%s.ext%d", f, renamed)
			// poold may be rotating the same file this instant: retry.
			proctest.Eventually(t, "rename "+f, func() bool { return os.Rename(f, dst) == nil })
		}
		switch how {
		case "signal":
			p.signal(syscall.SIGUSR1)
		case "all":
			call(t, c, "reopen", nil)
		default:
			r := call(t, c, "reopen", map[string]any{"name": "fast"})
			if paths, _ := r["paths"].([]any); len(paths) != 2 {
				t.Fatalf("reopen fast: paths %v, want the two log files", r["paths"])
			}
		}
		status(nil)
	}
	rotateExternally("name")
	rotateExternally("all")
	rotateExternally("signal")
	if err := os.WriteFile(filepath.Join(done, "stop"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var n int
	proctest.Eventually(t, "the writer to finish", func() bool {
		ents, _ := os.ReadDir(done)
		for _, e := range ents {
			if e.Name() == "stop" || strings.HasSuffix(e.Name(), ".tmp") {
				continue
			}
			if b, err := os.ReadFile(filepath.Join(done, e.Name())); err == nil {
				n, _ = strconv.Atoi(string(b))
				return n > 0
			}
		}
		status(nil)
		return false
	})
	r := status(map[string]any{"name": "fast"})
	if lc, _ := r["logs"].(map[string]any); lc["dropped"] != 0.0 {
		t.Errorf("status logs: %v, want nothing dropped", r["logs"])
	}
	hwm := vmHWM(t, p.cmd.Process.Pid)
	p.signal(syscall.SIGTERM)
	if code := p.wait(); code != 0 {
		t.Fatalf("poold exited with %d", code)
	}
	t.Logf("%d lines a stream in %s; poold's peak RSS %d MiB; slowest status %v", n, fastWriterDuration(), hwm>>20, slowest)
	if hwm > 200<<20 {
		t.Errorf("poold's peak RSS is %d MiB, want under 200 MiB", hwm>>20)
	}
	for _, s := range []string{"out", "err"} {
		files := checkStream(t, logs, "fast."+s+".log", s, n)
		if files < 4 {
			t.Errorf("%s: %d files, want the 3 renamed ones, rotated ones and the live one", s, files)
		}
	}
}

// waitGrown waits until path exists and is not empty.
func waitGrown(t *testing.T, path string) {
	t.Helper()
	proctest.Eventually(t, path+" to have lines", func() bool {
		st, err := os.Stat(path)
		return err == nil && st.Size() > 0
	})
}

// vmHWM is pid's peak resident set size in bytes.
func vmHWM(t *testing.T, pid int) uint64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/PID/status")
	return 0
}

// checkStream reads every file in dir whose name starts with base
// (gunzipping .gz), checks that each holds consecutive lines "<prefix> N"
// and that, ordered by their first line, they hold 1..n exactly once. It
// returns the number of files.
func checkStream(t *testing.T, dir, base, prefix string, n int) int {
	t.Helper()
	type span struct {
		name        string
		first, last int
	}
	var spans []span
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasPrefix(d.Name(), base) {
			return err
		}
		if strings.HasSuffix(d.Name(), ".gz.tmp") {
			// A compression poold's stop cut short (it waits 5 s for
			// them): the rotated file it was made from is still there,
			// and the next poold removes the part.
			return nil
		}
		first, last, err := readSpan(path, prefix)
		if err != nil {
			return err
		}
		if first > 0 {
			spans = append(spans, span{d.Name(), first, last})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].first < spans[j].first })
	next := 1
	for _, s := range spans {
		if s.first != next {
			t.Fatalf("%s: %s starts at line %d, want %d (lost or duplicated lines)", base, s.name, s.first, next)
		}
		next = s.last + 1
	}
	if next != n+1 {
		t.Fatalf("%s: the files end at line %d, the worker wrote %d", base, next-1, n)
	}
	return len(spans)
}

// readSpan returns the first and last number of a file of consecutive
// lines "<prefix> N" (0, 0 when empty), or an error naming the first line
// out of sequence.
func readSpan(path, prefix string) (first, last int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return 0, 0, fmt.Errorf("%s: %w", path, err)
		}
		r = zr
	}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		num, ok := strings.CutPrefix(sc.Text(), prefix+" ")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return 0, 0, fmt.Errorf("%s: line %q is not %q and a number", path, sc.Text(), prefix)
		}
		if first != 0 && v != last+1 {
			return 0, 0, fmt.Errorf("%s: line %d follows %d", path, v, last)
		}
		if first == 0 {
			first = v
		}
		last = v
	}
	if err := sc.Err(); err != nil && !errors.Is(err, io.EOF) {
		return 0, 0, fmt.Errorf("%s: %w", path, err)
	}
	return first, last, nil
}
