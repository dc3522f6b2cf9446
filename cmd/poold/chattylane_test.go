package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/poold/poold/watcher/proctest"
)

// chattyConfig: two workers that write lines as fast as poold reads them,
// on the default "stderr" sink, and a quiet watcher to scale.
const chattyConfig = `
[arbiter]
ENDPOINTS
[watchers.chatty]
cmd = "yes"
args = ["a line of worker output, as fast as poold reads it"]
numprocesses = 2
[watchers.quiet]
cmd = "sleep"
args = ["3600"]
numprocesses = 1
`

// TestChattyWatcherCostsOnlyItsOwnLines: one watcher writing faster than
// poold writes its log (stderr a regular file on a fast disk) filled the
// log queue poold's own records share, and poold dropped its audit lines
// (34 of 40 "command received" in the review) and errors alike; the drop
// report blamed a slow stderr and named nobody, and the watcher's
// logs.dropped stayed 0. Every audit line now gets through, the
// watcher's drops count as its own and the report names it.
func TestChattyWatcherCostsOnlyItsOwnLines(t *testing.T) {
	errPath := filepath.Join(t.TempDir(), "poold.err")
	stderr, err := os.Create(errPath)
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()
	p := startPooldStderr(t, chattyConfig, stderr)
	c := dialControl(t, p)
	waitPids(t, c, "chatty", 2)
	proctest.Eventually(t, "the queue to drop chatty's lines", func() bool {
		dropped, _ := dstatsInfo(t, c)["log_dropped"].(float64)
		return dropped > 0
	})
	const rounds = 20
	for range rounds {
		callWithin(t, c, "incr", map[string]any{"name": "quiet"})
		callWithin(t, c, "decr", map[string]any{"name": "quiet"})
	}
	r, _ := callWithin(t, c, "status", nil)
	logs, _ := r["logs"].(map[string]any)
	chatty, _ := logs["chatty"].(map[string]any)
	info := dstatsInfo(t, c)
	p.signal(syscall.SIGTERM)
	if code := p.wait(); code != 0 {
		t.Fatalf("poold exited with %d", code)
	}
	b, err := os.ReadFile(errPath)
	if err != nil {
		t.Fatal(err)
	}
	log := string(b)
	incr := strings.Count(log, "command received: command=incr watcher=quiet")
	decr := strings.Count(log, "command received: command=decr watcher=quiet")
	t.Logf("audit lines %d/%d; dstats log_dropped=%v; chatty's logs %v", incr+decr, 2*rounds, info["log_dropped"], chatty)
	if incr != rounds || decr != rounds {
		t.Errorf("audit lines in poold's log: %d incr, %d decr, want %d each", incr, decr, rounds)
	}
	if dropped, _ := chatty["dropped"].(float64); dropped <= 0 {
		t.Errorf("status: chatty's logs %v, want its dropped lines counted", chatty)
	}
	if chatty["dropped_queue"] != chatty["dropped"] || chatty["dropped_file"] != 0.0 {
		t.Errorf("status: chatty's logs %v, want every dropped line counted as dropped_queue", chatty)
	}
	if !strings.Contains(log, `watchers="chatty=`) {
		t.Errorf("no drop report names chatty:\n%s", lastLines(log, 20))
	}
	// stderr is a regular file: the reports say the queue was full. One
	// that blames a write stalled a second or more is right too when the
	// machine stalled poold that long (a loaded CI host), so only the
	// queue's wording is required, not every report's.
	if !strings.Contains(log, "the log queue was full") {
		t.Errorf("no drop report says the queue was full; stderr is a regular file:\n%s", lastLines(log, 20))
	}
}

// lastLines is the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
