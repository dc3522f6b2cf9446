package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/arbiter/controller/ctlclient"
	"github.com/poold/poold/watcher/proctest"
	"golang.org/x/sys/unix"
)

// normalTimeout is poolctl's default timeout for a plain command: what a
// user or a health check waits before calling poold unresponsive.
const normalTimeout = 5 * time.Second

// stderrPipe is a pipe for poold's stderr; the test decides when (and
// whether) its read end is read.
func stderrPipe(t *testing.T) (r, w *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.Close()
		w.Close()
	})
	return r, w
}

// callWithin sends cmd and fails unless poold answers ok within
// normalTimeout; it returns the reply and how long it took.
func callWithin(t *testing.T, c *ctlclient.Client, cmd string, props map[string]any) (arbiter.Reply, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), normalTimeout)
	defer cancel()
	start := time.Now()
	r, err := c.Do(ctx, arbiter.Request{Command: cmd, Properties: props})
	took := time.Since(start)
	if err != nil {
		t.Fatalf("%s: no answer within %v: %v", cmd, normalTimeout, err)
	}
	if r["status"] != "ok" {
		t.Fatalf("%s: %v", cmd, r)
	}
	return r, took
}

func listPids(t *testing.T, c *ctlclient.Client, name string) []int {
	t.Helper()
	r, _ := callWithin(t, c, "list", map[string]any{"name": name})
	var pids []int
	raw, _ := r["pids"].([]any)
	for _, p := range raw {
		pids = append(pids, int(p.(float64)))
	}
	return pids
}

func waitPids(t *testing.T, c *ctlclient.Client, name string, n int) []int {
	t.Helper()
	var pids []int
	proctest.Eventually(t, fmt.Sprintf("%d processes of %s", n, name), func() bool {
		pids = listPids(t, c, name)
		return len(pids) == n
	})
	return pids
}

func dstatsInfo(t *testing.T, c *ctlclient.Client) map[string]any {
	t.Helper()
	r, _ := callWithin(t, c, "dstats", nil)
	info, _ := r["info"].(map[string]any)
	return info
}

// pipeBytes is how many bytes wait unread in the pipe r (FIONREAD, which
// Linux calls TIOCINQ).
func pipeBytes(t *testing.T, r *os.File) int {
	t.Helper()
	raw, err := r.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	n := -1
	if err := raw.Control(func(fd uintptr) { n, err = unix.IoctlGetInt(int(fd), unix.TIOCINQ) }); err != nil {
		t.Fatal(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// sleepyConfig: workers that say hello (a line poold logs) and sleep.
const sleepyConfig = `
[arbiter]
ENDPOINTS
[watchers.sleepy]
cmd = "sh"
args = ["-c", "echo worker $$ up; exec sleep 3600"]
numprocesses = 2
graceful_timeout = "5s"
`

// `poold CONFIG 2>&1 | head -c 100`: the reader of poold's stderr goes away
// after 100 bytes. poold must not die of SIGPIPE (taking every worker with
// it); it drops its log lines, says so in dstats, and keeps supervising.
func TestClosedStderrCostsOnlyLogLines(t *testing.T) {
	r, w := stderrPipe(t)
	p := startPooldStderr(t, sleepyConfig, w, "--log-level", "debug")
	w.Close()
	head := make([]byte, 100)
	if _, err := io.ReadFull(r, head); err != nil {
		t.Fatalf("reading poold's first 100 bytes of stderr: %v", err)
	}
	r.Close()

	c := dialControl(t, p)
	pids := waitPids(t, c, "sleepy", 2)
	// The new worker's hello is logged: a write into the closed pipe.
	callWithin(t, c, "incr", map[string]any{"name": "sleepy"})
	waitPids(t, c, "sleepy", 3)
	callWithin(t, c, "status", nil)
	var info map[string]any
	if !proctest.Poll(hang, func() bool {
		info = dstatsInfo(t, c)
		dropped, _ := info["log_dropped"].(float64)
		return info["log_stderr"] == "gone" && dropped > 0
	}) {
		t.Fatalf("dstats after stderr was closed: log_stderr=%v log_dropped=%v log_written=%v log_queued=%v log_stalled=%v, want gone with lines dropped",
			info["log_stderr"], info["log_dropped"], info["log_written"], info["log_queued"], info["log_stalled"])
	}
	t.Logf("after stderr closed: log_written=%v log_dropped=%v", info["log_written"], info["log_dropped"])
	callWithin(t, c, "status", nil)
	for _, pid := range pids {
		if !proctest.Alive(pid) {
			t.Errorf("worker %d died after poold's stderr was closed", pid)
		}
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(); code != 0 {
		t.Fatalf("poold exited with code %d (%v) after SIGTERM, want 0", code, p.err)
	}
}

// floodConfig: two workers that each write 20000 lines (about 1.3 MB), mark
// that they got through by creating $MARKS/<pid>, then sleep.
const floodConfig = `
[arbiter]
ENDPOINTS
[watchers.chatty]
cmd = "sh"
args = ["-c", 'yes "a line of worker output, written until poold stops reading it" | head -n 20000; touch "$MARKS/$$"; exec sleep 3600']
numprocesses = 2
env = ["MARKS=%s"]
graceful_timeout = "5s"
`

// waitMarks waits until n workers have created their mark in dir and
// returns their pids.
func waitMarks(t *testing.T, dir string, n int) []int {
	t.Helper()
	var pids []int
	proctest.Eventually(t, fmt.Sprintf("%d workers through their output", n), func() bool {
		ents, _ := os.ReadDir(dir)
		pids = pids[:0]
		for _, e := range ents {
			if pid, err := strconv.Atoi(e.Name()); err == nil {
				pids = append(pids, pid)
			}
		}
		return len(pids) >= n
	})
	return pids
}

// Nobody reads poold's stderr (a stuck journald, a paused terminal): the
// pipe fills up. Workers still get their output read, a killed worker is
// still replaced, commands answer in their normal time; once somebody
// reads again, poold reports how many lines it dropped.
func TestStuckStderrNeverBlocksSupervision(t *testing.T) {
	r, w := stderrPipe(t)
	marks := t.TempDir()
	p := startPooldStderr(t, fmt.Sprintf(floodConfig, marks), w, "--log-level", "debug")
	w.Close()
	c := dialControl(t, p)

	// 2 x 1.3 MB of output logged: far more than the pipe holds.
	waitMarks(t, marks, 2)
	_, tookStatus := callWithin(t, c, "status", nil)
	_, tookIncr := callWithin(t, c, "incr", map[string]any{"name": "chatty"})
	before := waitPids(t, c, "chatty", 3)
	victim := before[0]
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var after []int
	proctest.Eventually(t, fmt.Sprintf("killed worker %d replaced", victim), func() bool {
		after = listPids(t, c, "chatty")
		return len(after) == 3 && !slices.Contains(after, victim)
	})
	t.Logf("with stderr stuck: status took %v, incr took %v; killed %d, pids now %v", tookStatus, tookIncr, victim, after)
	info := dstatsInfo(t, c)
	if dropped, _ := info["log_dropped"].(float64); dropped <= 0 {
		t.Fatalf("dstats: log_dropped=%v with stderr stuck, want > 0 (%v)", info["log_dropped"], info)
	}
	t.Logf("stderr stuck: %d bytes unread in the pipe; log_stderr=%v log_written=%v log_dropped=%v log_queued=%v log_stalled=%vs",
		pipeBytes(t, r), info["log_stderr"], info["log_written"], info["log_dropped"], info["log_queued"], info["log_stalled"])

	// Somebody reads again: poold reports what it dropped.
	log := &lockedBuffer{}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		_, _ = io.Copy(log, r)
	}()
	t.Cleanup(func() {
		r.Close()
		<-copied
	})
	// Most lines may go while the pipe still takes some, the queue full
	// (the flood outruns poold's writes) before the pipe fills: the
	// report says which it saw (reportDrops).
	rx := regexp.MustCompile(`dropped log lines(?: while stderr was slow or blocked|: the log queue was full)[^\n]*: lines=(\d+)`)
	var m []string
	proctest.Eventually(t, "the drop report", func() bool {
		m = rx.FindStringSubmatch(log.String())
		return m != nil
	})
	if n, _ := strconv.Atoi(m[1]); n <= 0 {
		t.Errorf("drop report %q: want a positive count", m[0])
	}
	t.Logf("reported: %s", m[0])
	p.signal(syscall.SIGTERM)
	if code := p.wait(); code != 0 {
		t.Fatalf("poold exited with code %d (%v) after SIGTERM, want 0", code, p.err)
	}
	select {
	case <-copied:
	case <-time.After(hang):
		t.Fatalf("poold's stderr still open %v after it exited", hang)
	}
}

// forgeConfig: a worker whose output tries to pass for poold's own log
// lines (a carriage return back to the start of the line) and to clear
// the screen, among other control characters and invalid UTF-8.
const forgeConfig = `
[arbiter]
ENDPOINTS
[watchers.forger]
cmd = "sh"
args = ["-c", 'printf "\rFAKE [ERROR] poold: forged\n\033[2J\nbell\007 del\177 bad\377 csi\302\233 rtl\342\200\256 tab\tok caf\303\251\r\n"; exec sleep 3600']
graceful_timeout = "5s"
`

func TestWorkerOutputCannotForgeTextLog(t *testing.T) {
	p := startPoold(t, forgeConfig)
	p.waitLog(`tab\tok café`, 1)
	log := p.log.String()
	for _, want := range []string{
		`poold.worker: \rFAKE [ERROR] poold: forged: pid=`, `poold.worker: \x1b[2J: pid=`,
		`poold.worker: bell\a del\x7f bad\xff csi\u009b rtl\u202e tab` + "\tok café: pid=",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q", want)
		}
	}
	if i := strings.IndexAny(log, "\r\x1b\x07\x7f\u009b\u202e"); i >= 0 {
		t.Errorf("raw control character %q in the log at %d: %q", log[i], i, log[max(0, i-60):i+1])
	}
	if !utf8.ValidString(log) {
		t.Errorf("the log is not valid UTF-8")
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}

// In the JSON log every worker line is one string value, escaped by the
// encoder: the worker's characters are kept, nothing is raw.
func TestWorkerOutputCannotForgeJSONLog(t *testing.T) {
	p := startPoold(t, forgeConfig, "--log-format", "json")
	p.waitLog(`tab\\tok café`, 1)
	log := p.log.String()
	msgs := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSuffix(log, "\n"), "\n") {
		var entry map[string]any
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		if entry["watcher"] == "forger" {
			msgs[entry["@message"].(string)] = true
		}
	}
	for _, want := range []string{"\rFAKE [ERROR] poold: forged", "\x1b[2J", "bell\x07 del\x7f bad\uFFFD csi\u009b rtl\u202e tab\tok café"} {
		if !msgs[want] {
			t.Errorf("no worker line %q in %v", want, msgs)
		}
	}
	if i := strings.IndexAny(log, "\r\x1b\x07"); i >= 0 {
		t.Errorf("raw control character %q in the log at %d", log[i], i)
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}

// poold catches SIGPIPE for itself; its workers still get the default (an
// ignored signal would stay ignored across exec, and `yes | head` in a
// worker would spin on EPIPE).
func TestWorkersKeepDefaultSIGPIPE(t *testing.T) {
	p := startPoold(t, `
[arbiter]
ENDPOINTS
[watchers.probe]
cmd = "sh"
args = ["-c", "grep SigIgn /proc/self/status; exec sleep 3600"]
graceful_timeout = "5s"
`)
	m := p.waitLog(`SigIgn:\s+([0-9a-f]+)`, 1)[0]
	ignored, err := strconv.ParseUint(m[1], 16, 64)
	if err != nil {
		t.Fatal(err)
	}
	if ignored&(1<<(syscall.SIGPIPE-1)) != 0 {
		t.Errorf("worker starts with SIGPIPE ignored (SigIgn %s)", m[1])
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}

// TestWorkerLineEndingInColonJoinsOnce: the text log joins a worker's
// line to its fields with ": ", so a line that ended with a colon, as
// Python's "Traceback (most recent call last):" does, read "...last)::
// pid=...". The line's own colon is now the join's; other lines are
// joined as before.
func TestWorkerLineEndingInColonJoinsOnce(t *testing.T) {
	p := startPoold(t, `
[arbiter]
ENDPOINTS
[watchers.tb]
cmd = "sh"
args = ["-c", 'printf "Traceback (most recent call last):\n  File \"app.py\", line 1, in <module>\n:\nplain line\n" >&2; exec sleep 3600']
graceful_timeout = "5s"
`)
	p.waitLog(`plain line: pid=`, 1)
	log := p.log.String()
	for _, want := range []string{
		"poold.worker: Traceback (most recent call last): pid=",
		`poold.worker:   File "app.py", line 1, in <module>: pid=`,
		"poold.worker: :: pid=", // a colon alone is kept
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q", want)
		}
	}
	if strings.Contains(log, "last):: pid=") {
		t.Errorf("the line's colon and the join's are both there:\n%s", log)
	}
}
