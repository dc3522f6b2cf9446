package arbiter

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/poold/poold/arbiter/workerlog"
	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher"
	"github.com/poold/poold/watcher/proctest"
)

// crashScript is a python3 worker that counts its attempts in the file
// argv[1] and writes a banner and a traceback of a failed import to
// stderr: the traceback names the missing module "notthere" up to
// attempt argv[2] - 1 and "other" from then on. From attempt argv[3]
// (0: never) it writes the banner alone and runs on, quiet.
const crashScript = `import sys, time
count, change_at, stay_at = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(count, "a") as f:
    f.write("x")
with open(count) as f:
    n = len(f.read())
print("starting app", file=sys.stderr, flush=True)
if stay_at and n >= stay_at:
    time.sleep(1000)
def load_app():
    import_app()
def import_app():
    raise ModuleNotFoundError("No module named " + ("'notthere'" if n < change_at else "'other'"))
load_app()
`

// crashLoop is a watcher "tb" of the crash script: its 10th early death
// in a row gives up (status failed), with short backoffs.
func crashLoop(t *testing.T, changeAt, stayAt int) configs.Watcher {
	dir := t.TempDir()
	script := filepath.Join(dir, "app.py")
	if err := os.WriteFile(script, []byte(crashScript), 0o644); err != nil {
		t.Fatal(err)
	}
	w := configs.DefaultWatcher("tb")
	w.Cmd = "/usr/bin/python3"
	w.Args = []string{script, filepath.Join(dir, "count"), strconv.Itoa(changeAt), strconv.Itoa(stayAt)}
	w.Logs.Stdout, w.Logs.Stderr = configs.LogToStderr, configs.LogToStderr
	w.BackoffMin, w.BackoffMax = 10*time.Millisecond, 50*time.Millisecond
	w.FlappingAttempts, w.FlappingMaxRetry = 10, 0
	return w
}

// textWorkerLine is a worker's line in the text log: its message and pid.
var textWorkerLine = regexp.MustCompile(`worker: (.*): pid=(\d+) stream=stderr watcher=(\S+) wid=\d+$`)

// workerLines are the messages poold's log (text or JSON) holds of
// watcher name's workers on stderr, by pid.
func workerLines(t *testing.T, log string, name string, asJSON bool) map[int][]string {
	t.Helper()
	out := map[int][]string{}
	for _, l := range strings.Split(log, "\n") {
		if asJSON {
			var r struct {
				Msg     string `json:"@message"`
				Pid     int    `json:"pid"`
				Stream  string `json:"stream"`
				Watcher string `json:"watcher"`
			}
			if json.Unmarshal([]byte(l), &r) == nil && r.Watcher == name && r.Stream == "stderr" {
				out[r.Pid] = append(out[r.Pid], r.Msg)
			}
			continue
		}
		if m := textWorkerLine.FindStringSubmatch(l); m != nil && m[3] == name {
			pid, _ := strconv.Atoi(m[2])
			out[pid] = append(out[pid], m[1])
		}
	}
	return out
}

// startLogged starts cfg with poold's log, text or JSON, in the harness's
// buffer.
func startLogged(t *testing.T, cfg *configs.Config, asJSON bool) *harness {
	t.Helper()
	cfg.Arbiter = configs.DefaultArbiter()
	if asJSON {
		cfg.Arbiter.LogFormat = "json"
	}
	buf := &syncBuffer{}
	log := hclog.New(&hclog.LoggerOptions{Output: io.MultiWriter(buf, testWriter{t}), Level: hclog.Debug, JSONFormat: asJSON})
	h := start(t, cfg, Options{Log: log, Events: events.NewBus(nil)})
	h.log = buf
	return h
}

// attemptPids waits for n spawns of watcher name and returns their pids
// in the order they started.
func attemptPids(h *harness, name string, n int) []int {
	h.t.Helper()
	var pids []int
	for len(pids) < n {
		ev := h.next("spawn", func(ev events.Event) bool { return ev.Watcher == name })
		pids = append(pids, ev.Fields["process_pid"].(int))
	}
	return pids
}

// ringByPid is the ring's lines of watcher name, by pid.
func ringByPid(h *harness, name string) map[int][]string {
	h.t.Helper()
	out := map[int][]string{}
	for _, r := range h.do("logs", map[string]any{"name": name, "lines": 10000})["lines"].([]workerlog.Record) {
		out[r.Pid] = append(out[r.Pid], r.Line)
	}
	return out
}

// summary is the line that stands for attempt n's output, the same lines
// as attempt n-1's.
func summary(n, lines int) string {
	return fmt.Sprintf("output of attempt %d is the same %d lines as attempt %d (not repeated here; poolctl logs tb --wid 1)", n, lines, n-1)
}

// tenAttempts runs the crash loop to its failed status and returns, for
// each of its 10 attempts, its lines in the ring (every line, as the
// text log shows them when the log is text) and in poold's log.
func tenAttempts(t *testing.T, changeAt int, asJSON bool, extra ...configs.Watcher) (h *harness, ring, logged [][]string) {
	h = startLogged(t, &configs.Config{Watchers: append([]configs.Watcher{crashLoop(t, changeAt, 0)}, extra...)}, asJSON)
	asLogged := func(lines []string) []string { // as the text log shows them
		if asJSON {
			return lines
		}
		out := make([]string, len(lines))
		for i, l := range lines {
			out[i] = joinable(printable([]byte(l)))
		}
		return out
	}
	pids := attemptPids(h, "tb", 10)
	proctest.Eventually(t, "the crash loop gives up", func() bool {
		return h.do("status", map[string]any{"name": "tb"})["state"] == "failed"
	})
	// Each attempt's output is in poold's log once its last line (the
	// traceback's) or the line that stands for it is.
	proctest.Eventually(t, "every attempt's output handled", func() bool {
		byPid := workerLines(t, h.log.String(), "tb", asJSON)
		for _, pid := range pids {
			l := byPid[pid]
			if len(l) == 0 || !strings.Contains(l[len(l)-1], "No module named") && !strings.HasPrefix(l[len(l)-1], "output of attempt") {
				return false
			}
		}
		return true
	})
	byRing, byLog := ringByPid(h, "tb"), workerLines(t, h.log.String(), "tb", asJSON)
	for _, pid := range pids {
		ring, logged = append(ring, asLogged(byRing[pid])), append(logged, byLog[pid])
	}
	return h, ring, logged
}

// A crash-looping slot whose worker writes the same traceback on every
// attempt: poold's log shows the first two attempts' output (the slot
// is not crash-looping yet), then one line per attempt; the ring keeps
// every line. Before, each of the 10 attempts' tracebacks filled poold's
// log. A healthy chatty worker beside it loses nothing.
func TestCrashLoopRepeatsNotLogged(t *testing.T) {
	for _, asJSON := range []bool{false, true} {
		t.Run(map[bool]string{false: "text", true: "json"}[asJSON], func(t *testing.T) {
			chatty := configs.DefaultWatcher("chatty")
			chatty.Cmd, chatty.Args = "/bin/sh", []string{"-c", `i=0; while [ $i -lt 300 ]; do echo "line $i" >&2; i=$((i+1)); done; exec sleep 1000`}
			h, ring, logged := tenAttempts(t, 100, asJSON, chatty)
			n := len(ring[0])
			if n < 8 || !strings.Contains(ring[0][n-1], "No module named 'notthere'") {
				t.Fatalf("attempt 1 wrote %q: not a banner and a traceback", ring[0])
			}
			for i := range 10 {
				if !slices.Equal(ring[i], ring[0]) {
					t.Errorf("attempt %d: ring %q, want every line %q", i+1, ring[i], ring[0])
				}
				want := ring[0]
				if i >= 2 {
					want = []string{summary(i+1, n)}
				}
				if !slices.Equal(logged[i], want) {
					t.Errorf("attempt %d: poold's log %q, want %q", i+1, logged[i], want)
				}
			}
			proctest.Eventually(t, "the chatty worker's 300 lines in poold's log", func() bool {
				for _, l := range workerLines(t, h.log.String(), "chatty", asJSON) {
					return len(l) == 300
				}
				return false
			})
		})
	}
}

// A traceback that changes between attempts is shown in full on the
// attempt it changed: attempts 1-5 name one module, 6-10 another.
func TestCrashLoopChangedOutputLogged(t *testing.T) {
	_, ring, logged := tenAttempts(t, 6, false)
	n := len(ring[0])
	for i := range 10 {
		want := []string{summary(i+1, n)}
		switch {
		case i < 2 || i == 5:
			want = ring[i]
		case i > 5 && !slices.Equal(ring[i], ring[5]):
			t.Fatalf("attempt %d wrote %q, attempt 6 %q: not the same", i+1, ring[i], ring[5])
		}
		if !slices.Equal(logged[i], want) {
			t.Errorf("attempt %d: poold's log %q, want %q", i+1, logged[i], want)
		}
	}
	if slices.Equal(ring[4], ring[5]) {
		t.Fatalf("attempts 5 and 6 wrote the same lines %q", ring[5])
	}
}

// A worker that recovers in a crash-looping slot and starts with the
// banner its crashed predecessors wrote, then is quiet, is not
// silenced: its banner reaches poold's log while it runs (held back at
// most until it outlived the previous attempt by a second).
func TestCrashLoopRecoveredWorkerNotSilenced(t *testing.T) {
	h := startLogged(t, &configs.Config{Watchers: []configs.Watcher{crashLoop(t, 0, 4)}}, false)
	pids := attemptPids(h, "tb", 4)
	proctest.Eventually(t, "the fourth attempt's banner in poold's log", func() bool {
		return slices.Equal(workerLines(t, h.log.String(), "tb", false)[pids[3]], []string{"starting app"})
	})
	if l := workerLines(t, h.log.String(), "tb", false)[pids[2]]; len(l) != 1 || !strings.HasPrefix(l[0], "output of attempt 3 is the same ") {
		t.Errorf("attempt 3: poold's log %q, want the line that stands for its repeated traceback", l)
	}
	if running := h.do("list", map[string]any{"name": "tb"})["pids"].([]int); !slices.Equal(running, pids[3:]) {
		t.Errorf("pids %v: the fourth worker (pid %d) should run", running, pids[3])
	}
}

// The rule at its edges, one pipe's attempts fed by hand: what poold's
// log shows of a crash-looping slot's attempt, given the previous one's.
func TestRepeatsRule(t *testing.T) {
	tb := []string{"Traceback", "  File x", "Error: y"}
	for _, tc := range []struct {
		name      string
		prev, cur []string
		unread    bool // the previous attempt's reader has not reached its EOF
		want      []string
	}{
		{"same", tb, tb, false, []string{"output of attempt 3 is the same 3 lines as attempt 2 (not repeated here; poolctl logs tb --wid 1)"}},
		{"fewer", tb, tb[:2], false, tb[:2]},
		{"more", tb, append(slices.Clone(tb), "more"), false, append(slices.Clone(tb), "more")},
		{"differs", tb, []string{"Traceback", "  File z", "Error: y"}, false, []string{"Traceback", "  File z", "Error: y"}},
		{"previous unread", tb, tb, true, tb},
		{"nothing", nil, nil, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			buf := &syncBuffer{}
			log := hclog.New(&hclog.LoggerOptions{Output: buf, JSONFormat: true})
			o := newOutput(log, false, events.NewBus(nil))
			pl := o.pool("tb", 100)
			feed := func(at watcher.Attempt, lines []string, end bool) {
				r := o.attemptOutput(pl, 1, "stderr", at, log.With("watcher", "tb", "stream", "stderr"))
				for _, l := range lines {
					r.line([]byte(l), time.Now())
				}
				if end {
					r.end(time.Now())
				}
			}
			feed(watcher.Attempt{N: 2, AfterEarly: true}, tc.prev, !tc.unread)
			mark := len(buf.String())
			feed(watcher.Attempt{N: 3, AfterEarly: true, Looping: true}, tc.cur, true)
			var got []string
			for _, l := range workerLines(t, buf.String()[mark:], "tb", true) {
				got = append(got, l...)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("poold's log %q, want %q", got, tc.want)
			}
		})
	}
}
