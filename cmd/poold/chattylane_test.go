package main

import (
	"io"
	"strings"
	"syscall"
	"testing"
	"time"

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
// poold writes its log filled the log queue poold's own records share,
// and poold dropped its audit lines (34 of 40 "command received" in the
// review) and errors alike; the drop report blamed a slow stderr and
// named nobody, and the watcher's logs.dropped stayed 0. Every audit line
// now gets through, the watcher's drops count as its own and the report
// names it.
//
// poold's stderr is a pipe nobody reads while chatty fills the queue and
// the commands come: whatever the machine's speed, the queue is full (a
// regular file let poold keep up on a fast CI host, and nothing was
// dropped in a minute), and only the quarter of it kept for poold's own
// records can take the audit lines. Then the pipe is read to the end.
func TestChattyWatcherCostsOnlyItsOwnLines(t *testing.T) {
	r, w := stderrPipe(t)
	p := startPooldStderr(t, chattyConfig, w)
	w.Close()
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
	r0, _ := callWithin(t, c, "status", nil)
	logs, _ := r0["logs"].(map[string]any)
	chatty, _ := logs["chatty"].(map[string]any)
	info := dstatsInfo(t, c)

	out := &lockedBuffer{}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		_, _ = io.Copy(out, r)
	}()
	t.Cleanup(func() {
		r.Close()
		<-copied
	})
	p.signal(syscall.SIGTERM)
	if code := p.wait(); code != 0 {
		t.Fatalf("poold exited with %d", code)
	}
	select {
	case <-copied:
	case <-time.After(hang):
		t.Fatalf("poold's stderr still open %v after it exited", hang)
	}
	log := out.String()
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
	// Which words the report uses depends on how long the write had
	// been blocked when the pipe was read (a second, or less): the
	// wording is TestDropReportWordsItsCause's.
}

// lastLines is the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
