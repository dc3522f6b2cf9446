package arbiter

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

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

// A plain file (with or without timestamps) keeps a worker's CRLF line
// endings as written; the \r used to be dropped. The ring (poolctl logs,
// the console) and a JSON file hold the line without its terminator: in
// JSON, the record is the line's text, and the file's lines end in \n.
// A \r inside a line is kept everywhere.
func TestFileKeepsCRLF(t *testing.T) {
	const script = `printf 'red\r\ngreen\nblue\r\n\r\nbar\r50%%\r\n'; exec sleep 1000`
	ring := []string{"red", "green", "blue", "", "bar\r50%"}
	for _, tc := range []struct {
		name       string
		timestamps bool
		json       bool
		want       []string // the file's lines, timestamps cut off
	}{
		{"plain", false, false, []string{"red\r\n", "green\n", "blue\r\n", "\r\n", "bar\r50%\r\n"}},
		{"timestamps", true, false, []string{"red\r\n", "green\n", "blue\r\n", "\r\n", "bar\r50%\r\n"}},
		{"json", false, true, []string{`"red"`, `"green"`, `"blue"`, `""`, `"bar\r50%"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "crlf.log")
			w := shWorker("crlf", script, path)
			w.Logs.Timestamps, w.Logs.JSON = tc.timestamps, tc.json
			h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{})
			proctest.Eventually(t, "every line in the ring", func() bool {
				return len(ringLines(h, "crlf")) == len(ring)
			})
			if got := ringLines(h, "crlf"); !slices.Equal(got, ring) {
				t.Errorf("ring %q, want %q", got, ring)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, l := range strings.SplitAfter(string(b), "\n") {
				switch {
				case l == "":
				case tc.json:
					var rec struct{ Line *string }
					if err := json.Unmarshal([]byte(l), &rec); err != nil || rec.Line == nil || !strings.HasSuffix(l, "}\n") {
						t.Fatalf("not a JSON record line (%v): %q", err, l)
					}
					q, _ := json.Marshal(*rec.Line)
					got = append(got, string(q))
				case tc.timestamps:
					stamp, rest, ok := strings.Cut(l, " ")
					if _, err := time.Parse(time.RFC3339Nano, stamp); !ok || err != nil {
						t.Fatalf("no timestamp (%v): %q", err, l)
					}
					got = append(got, rest)
				default:
					got = append(got, l)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("file lines %q, want %q", got, tc.want)
			}
		})
	}
}
