package main

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/poold/poold/watcher/proctest"
	"github.com/poold/poold/watcher/workertest"
)

// countScript writes "WORD 1" to "WORD 8" on stdout, 30 ms apart, then
// sleeps: a watcher whose lines are all in the ring once it is done.
func countScript(word string) string {
	return fmt.Sprintf(`for i in 1 2 3 4 5 6 7 8; do echo "%s $i"; sleep 0.03; done; exec sleep 3600`, word)
}

// everyLine is a line of logs without NAME: NAME (padded) WID STREAM| LINE.
var everyLine = regexp.MustCompile(`^(\S+) +(\d+)(?:\[\d+\])? (out|err)\| (.*)$`) // WID[PID] once a wid had two workers

// TestLogsOfEveryWatcher: `poolctl logs` needed a NAME ("missing watcher
// NAME", exit 2), where `pm2 logs` shows every app (r61-pm2 F5). Without
// NAME it now prints the lines of every watcher merged in time order,
// each preceded by its watcher's name; -n counts the merged lines; a
// watcher that keeps no lines (log_ring = 0) and one that wrote nothing
// are no error, the former named once on stderr.
func TestLogsOfEveryWatcher(t *testing.T) {
	t.Parallel()
	p := startPooldWith(t, pooldConf{watchers: fmt.Sprintf(`
[watchers.alpha]
cmd = "/bin/sh"
args = ["-c", %q]

[watchers.b]
cmd = "/bin/sh"
args = ["-c", %q]

[watchers.silent]
cmd = "/bin/sh"
args = ["-c", "while :; do echo unkept; sleep 0.05; done"]
log_ring = 0
stdout_log = "none"
`, countScript("alpha"), countScript("b"))})
	var all []logRecord
	proctest.Eventually(t, "the 16 lines of alpha and b", func() bool {
		all = logRecords(t, p.ctl(t, "--json", "logs", "-n", "1000").stdout)
		return len(all) == 16
	})
	// The merge: by time across the watchers, each watcher's in order
	// (one worker each, stdout only: its ring is in time order too).
	seen := map[string]int{}
	for i, r := range all {
		if i > 0 && r.Time.Before(all[i-1].Time) {
			t.Errorf("line %d (%s %q at %v) printed after one of %v", i, r.Watcher, r.Line, r.Time, all[i-1].Time)
		}
		seen[r.Watcher]++
		if want := fmt.Sprintf("%s %d", r.Watcher, seen[r.Watcher]); r.Line != want {
			t.Errorf("line %d of %s is %q, want %q", seen[r.Watcher], r.Watcher, r.Line, want)
		}
	}
	if seen["alpha"] != 8 || seen["b"] != 8 {
		t.Errorf("--json records by watcher: %v, want alpha and b 8 each", seen)
	}

	// Text: the name, padded to the longest ("silent"), before the wid;
	// -n 5: the last 5 of the merge.
	r := p.ctl(t, "logs", "-n", "5")
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != 5 {
		t.Fatalf("logs -n 5 printed %d lines:\n%s", len(lines), r.stdout)
	}
	for i, l := range lines {
		want := all[len(all)-5+i]
		if got := fmt.Sprintf("%-6s 1 out| %s", want.Watcher, want.Line); l != got {
			t.Errorf("logs -n 5, line %d: %q, want %q", i+1, l, got)
		}
	}
	wantNote := "poolctl: not shown: the lines of silent, which poold keeps none of in memory (log_ring = 0; 'poolctl logs silent' says where they go)\n"
	if r.stderr != wantNote {
		t.Errorf("logs -n 5 stderr %q, want the one note %q", r.stderr, wantNote)
	}
	// -t: the time first; --stream: of every watcher; --since.
	if l := strings.TrimSpace(p.ctl(t, "logs", "-t", "-n", "1").stdout); !strings.HasPrefix(l, all[15].Time.UTC().Format(stampLayout)+" "+fmt.Sprintf("%-6s 1[%d] out| ", all[15].Watcher, all[15].Pid)) {
		t.Errorf("logs -t -n 1 printed %q, want the time, name, wid[pid] of %+v", l, all[15])
	}
	if r := p.ctl(t, "logs", "--stream", "stderr"); r.stdout != "" {
		t.Errorf("logs --stream stderr printed %q; no worker wrote to stderr", r.stdout)
	}
	since := logRecords(t, p.ctl(t, "--json", "logs", "--since", all[10].Time.Format("2006-01-02T15:04:05.999999999Z07:00")).stdout)
	if len(since) < 6 || !slices.EqualFunc(since[len(since)-6:], all[10:], func(a, b logRecord) bool { return a.Seq == b.Seq && a.Watcher == b.Watcher }) {
		t.Errorf("logs --since the 11th line's time printed %v, want lines 11 to 16 at its end", since)
	}

	// --wid needs a NAME; the one-NAME form is as it was.
	if r := poolctl(t, append(p.conn(), "logs", "--wid", "1")...); r.code != exitUsage || !strings.Contains(r.stderr, "--wid needs a watcher NAME") {
		t.Errorf("logs --wid 1 without NAME: %v, want exit 2 naming what to do", r)
	}
	if r := p.ctl(t, "logs", "b", "-n", "2"); r.stdout != "1 out| b 7\n1 out| b 8\n" {
		t.Errorf("logs b -n 2 printed %q", r.stdout)
	}
	// Help and completion name the optional NAME and the watchers.
	if r := p.ctl(t, "logs", "--help"); !strings.Contains(r.stdout, "poolctl logs [NAME]") || !strings.Contains(r.stdout, "Without NAME") {
		t.Errorf("logs --help does not show logs without NAME:\n%s", r.stdout)
	}
	if r := p.ctl(t, "__complete", "logs", ""); !strings.Contains(r.stdout, "alpha\n") {
		t.Errorf("completion of logs: %q, want the watchers", r.stdout)
	}
}

// TestLogsOfEveryWatcherFollow: `logs -f` without NAME follows every
// watcher: one added while following (said on stderr, its lines from
// its first), one removed (said), and poold restarted (every ring
// starts over: read from its first line, no gap).
func TestLogsOfEveryWatcherFollow(t *testing.T) {
	p := startPooldWith(t, pooldConf{watchers: fmt.Sprintf("\n[watchers.talk]\ncmd = \"/bin/sh\"\nargs = [\"-c\", %q]\n", talkScript)})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, errs := &workertest.Buffer{}, &workertest.Buffer{}
	done := make(chan int, 1)
	go func() { done <- run(ctx, append(p.conn(), "logs", "-f", "--stream", "stdout"), out, errs) }()
	talkTicks := func() []int {
		var n []int
		for _, l := range strings.Split(out.String(), "\n") {
			if m := everyLine.FindStringSubmatch(l); m != nil && m[1] == "talk" {
				var v int
				fmt.Sscanf(m[4], "tick %d", &v)
				n = append(n, v)
			}
		}
		return n
	}
	proctest.Eventually(t, "logs -f to show talk's ticks", func() bool { return len(talkTicks()) >= 5 })

	p.ctl(t, "add", "--start", "late", "/bin/sh", "-c", countScript("late"))
	proctest.Eventually(t, "logs -f to show late's 8 lines", func() bool { return strings.Contains(out.String(), "late 1 out| late 8\n") })
	if !strings.Contains(out.String(), "late 1 out| late 1\n") || !strings.Contains(errs.String(), "poolctl: watcher late was added; following its lines from the first\n") {
		t.Errorf("late's first line or the note of its addition is missing:\nstdout:\n%s\nstderr:\n%s", out.String(), errs.String())
	}
	p.ctl(t, "rm", "late")
	proctest.Eventually(t, "logs -f to say late was removed", func() bool { return strings.Contains(errs.String(), "poolctl: watcher late was removed\n") })

	p.restart(t)
	var n []int
	proctest.Eventually(t, "logs -f to show the new run's first 20 ticks", func() bool {
		n = talkTicks()
		i := slices.Index(n[1:], 1) + 1 // the new run's tick 1
		return i > 0 && len(n)-i >= 20
	})
	// A ring set to 0 while following: its lines are counted as missed
	// on every read; that is said once, not every 200 ms.
	p.ctl(t, "set", "talk", "log_ring", "0")
	proctest.Eventually(t, "logs -f to say talk's lines are not shown", func() bool {
		return strings.Contains(errs.String(), "poolctl: not shown: the lines of talk, which poold keeps none of in memory (log_ring = 0;")
	})
	// Rounds go on while talk writes into its empty ring: a watcher
	// added now shows all its lines.
	p.ctl(t, "add", "--start", "tock", "/bin/sh", "-c", countScript("tock"))
	proctest.Eventually(t, "logs -f to show tock's 8 lines", func() bool { return strings.Contains(out.String(), "tock 1 out| tock 8\n") })
	if strings.Contains(errs.String(), "lines missed") {
		t.Errorf("logs -f went on about talk's empty ring:\n%s", errs.String())
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("logs -f exited %d, want 0; stderr:\n%s", code, errs.String())
	}
	n = talkTicks()
	i := slices.Index(n[1:], 1) + 1
	for j := 1; j < len(n); j++ {
		if j != i && n[j] != n[j-1]+1 {
			t.Fatalf("logs -f printed tick %d after %d:\n%s", n[j], n[j-1], out.String())
		}
	}
	if !regexp.MustCompile(`poolctl: poold's lines of (\w+, )*talk(, \w+)* start over`).MatchString(errs.String()) {
		t.Errorf("logs -f did not say talk's lines start over:\n%s", errs.String())
	}
}

// TestLogsEvents: `pm2 logs` shows "App [goapi:1] exited with code [3]"
// among the lines; `poolctl logs -f` showed only the next worker's first
// line (r61-pm2 F5). --events adds the workers' starts, exits and the
// stop signals poold sent, from its event history, merged by time; without
// it the output is as before.
func TestLogsEvents(t *testing.T) {
	t.Parallel()
	p := startPooldWith(t, pooldConf{watchers: `
[watchers.crash]
cmd = "/bin/sh"
args = ["-c", "echo up; sleep 0.3; exit 3"]
`})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, errs := &workertest.Buffer{}, &workertest.Buffer{}
	done := make(chan int, 1)
	go func() { done <- run(ctx, append(p.conn(), "logs", "-f", "--events"), out, errs) }()
	exited := regexp.MustCompile(`(?m)^crash 1\[\d+\] event\| ended: .*3$`)
	started := regexp.MustCompile(`(?m)^crash 1\[\d+\] event\| started$`)
	proctest.Eventually(t, "logs -f --events to show crash's exit and next start", func() bool {
		return exited.MatchString(out.String()) && started.MatchString(out.String())
	})
	p.ctl(t, "decr", "web")
	proctest.Eventually(t, "logs -f --events to show web's stop signal", func() bool {
		return regexp.MustCompile(`(?m)^web   \d+ event\| poold sent it SIGTERM$`).MatchString(out.String())
	})
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("logs -f --events exited %d; stderr:\n%s", code, errs.String())
	}
	one := regexp.MustCompile(`(?m)^1\[\d+\] event\| ended: .*3$`)
	if r := p.ctl(t, "logs", "crash", "--events", "-n", "1000"); !one.MatchString(r.stdout) {
		t.Errorf("logs crash --events printed no exit:\n%s", r.stdout)
	}
	if r := p.ctl(t, "logs", "crash", "-n", "1000"); strings.Contains(r.stdout, "event|") {
		t.Errorf("logs crash without --events printed events:\n%s", r.stdout)
	}
}
