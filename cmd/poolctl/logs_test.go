package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/poold/poold/watcher/proctest"
	"github.com/poold/poold/watcher/workertest"
)

// talkScript writes "tick N" to stdout and "oops N" to stderr every 20 ms.
const talkScript = `i=0; while :; do i=$((i+1)); echo "tick $i"; echo "oops $i" >&2; sleep 0.02; done`

var tickRE = regexp.MustCompile(`(?m)^(\d+)(?:\[\d+\])? out\| tick (\d+)$`) // WID[PID] once a wid had two workers

// ticks returns the tick numbers printed for wid.
func ticks(out string, wid int) []int {
	var n []int
	for _, m := range tickRE.FindAllStringSubmatch(out, -1) {
		if w, _ := strconv.Atoi(m[1]); w == wid {
			v, _ := strconv.Atoi(m[2])
			n = append(n, v)
		}
	}
	return n
}

// `poolctl logs` prints the ring's last lines with the filters asked for;
// -f goes on with the lines as they are written, each once and in order;
// reopen names the files it reopens.
func TestLogsAndFollow(t *testing.T) {
	t.Parallel()
	p := startPoold(t)
	p.ctl(t, "add", "--start", "talk", "/bin/sh", "-c", talkScript)
	p.ctl(t, "set", "talk", "numprocesses", "2", "stdout_log", "none", "stderr_log", "none")
	proctest.Eventually(t, "20 ticks of wid 2", func() bool {
		return len(ticks(p.ctl(t, "logs", "talk", "-n", "1000").stdout, 2)) >= 20
	})

	// The set replaced the workers (rolling, into new slots): take the
	// wid of the newest line and wait for 5 of its stderr lines.
	var lines []string
	wid := ""
	proctest.Eventually(t, "5 lines of one worker on stderr", func() bool {
		last := strings.Fields(p.ctl(t, "logs", "talk", "-n", "1").stdout)
		if len(last) == 0 {
			return false
		}
		wid = last[0]
		r := p.ctl(t, "logs", "talk", "--wid", wid, "--stream", "stderr", "-n", "5")
		lines = strings.Split(strings.TrimSpace(r.stdout), "\n")
		return len(lines) == 5
	})
	for _, l := range lines {
		if !strings.HasPrefix(l, wid+" err| oops ") {
			t.Errorf("logs --wid %s --stream stderr printed %q", wid, l)
		}
	}
	w, _ := strconv.Atoi(wid)
	r := p.ctl(t, "--json", "logs", "talk", "-n", "3")
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var rec map[string]any
		// watcher: the help names it, and records of several watchers
		// (logs without NAME) need it; it was dropped (r62).
		if err := json.Unmarshal([]byte(l), &rec); err != nil || rec["seq"] == nil || rec["pid"] == nil || rec["line"] == nil || rec["watcher"] != "talk" {
			t.Errorf("--json printed %q (%v)", l, err)
		}
	}

	// -f: lines keep coming, one tick after the other, none twice.
	ctx, cancel := context.WithCancel(context.Background())
	out := &workertest.Buffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--endpoint", p.control, "logs", "talk", "-f", "--wid", wid, "--stream", "stdout"}, out, &workertest.Buffer{})
	}()
	var first []int
	proctest.Eventually(t, "logs -f to show 40 more ticks", func() bool {
		n := ticks(out.String(), w)
		if first == nil && len(n) > 0 {
			first = n
		}
		return len(n) >= len(first)+40
	})
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("logs -f exited %d after Ctrl-C, want 0", code)
	}
	n := ticks(out.String(), w)
	for i := 1; i < len(n); i++ {
		if n[i] != n[i-1]+1 {
			t.Fatalf("logs -f printed tick %d after %d:\n%s", n[i], n[i-1], out.String())
		}
	}

	// A file sink, then reopen after an external rename.
	dir := t.TempDir()
	p.ctl(t, "set", "talk", "stdout_log", filepath.Join(dir, "$(pool.name).log"))
	path := filepath.Join(dir, "talk.log")
	proctest.Eventually(t, path+" to fill", func() bool { st, err := os.Stat(path); return err == nil && st.Size() > 100 })
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if r := p.ctl(t, "reopen", "talk"); !strings.Contains(r.stdout, "reopening "+path) {
		t.Fatalf("reopen talk printed %q", r.stdout)
	}
	proctest.Eventually(t, "a new "+path, func() bool { st, err := os.Stat(path); return err == nil && st.Size() > 0 })
	if r := p.ctl(t, "status"); strings.Contains(r.stdout, "dropped") {
		t.Errorf("status reports dropped lines:\n%s", r.stdout)
	}
	if r := poolctl(t, "--endpoint", p.control, "logs", "talk", "--stream", "both"); r.code != exitUsage {
		t.Errorf("--stream both: %v, want a usage error", r)
	}
}

// TestLogsFollowGoesOnThroughAnUpgrade: `poolctl logs -f` left running
// through a deploy exited 3 when poold re-executed itself, and a reader
// coming back with its old line number got nothing until the new ring's
// numbers passed it. It now reconnects and goes on from its last line in
// the ring the new image took over: the ticks go on, in order, once each,
// none lost (lines read by the old image after -f's last request were).
func TestLogsFollowGoesOnThroughAnUpgrade(t *testing.T) {
	t.Parallel()
	p := startPoold(t)
	p.ctl(t, "add", "--start", "talk", "/bin/sh", "-c", talkScript) // one worker, wid 1
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, errs := &workertest.Buffer{}, &workertest.Buffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--endpoint", p.control, "logs", "talk", "-f", "--stream", "stdout"}, out, errs)
	}()
	proctest.Eventually(t, "logs -f to show ticks", func() bool { return len(allTicks(out.String())) > 5 })
	// The upgrade from a poolctl process of its own: this test is about
	// the follower's connection.
	if b, err := exec.Command(filepath.Join(binaries(t), "poolctl"), "--endpoint", p.control, "upgrade").CombinedOutput(); err != nil {
		t.Fatalf("poolctl upgrade: %v\n%s", err, b)
	}
	before := allTicks(out.String())
	proctest.Eventually(t, "logs -f to show 20 ticks past the upgrade", func() bool {
		n := allTicks(out.String())
		return len(n) > 0 && n[len(n)-1] >= before[len(before)-1]+20
	})
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("logs -f exited %d, want 0; stderr:\n%s", code, errs.String())
	}
	n := allTicks(out.String())
	for i := 1; i < len(n); i++ {
		if n[i] != n[i-1]+1 {
			t.Fatalf("logs -f printed tick %d after %d:\n%s\nstderr:\n%s", n[i], n[i-1], out.String(), errs.String())
		}
	}
	if strings.Contains(errs.String(), "lost poold") && !strings.Contains(errs.String(), "poold answers again") {
		t.Errorf("logs -f said it lost poold, never that it answers again:\n%s", errs.String())
	}
	t.Logf("stderr of logs -f:\n%s", errs.String())
}

// allTicks returns the tick numbers printed, whatever the wid.
func allTicks(out string) []int {
	var n []int
	for _, m := range tickRE.FindAllStringSubmatch(out, -1) {
		v, _ := strconv.Atoi(m[2])
		n = append(n, v)
	}
	return n
}

// TestLogsFollowReadsARestartedPooldFromItsStart: after a restart, a
// follower whose old position the new ring's numbers had already passed
// skipped the new process's first lines. The reply's epoch tells the
// rings apart: the follower prints the new run from its first tick, with
// no gap.
func TestLogsFollowReadsARestartedPooldFromItsStart(t *testing.T) {
	p := startPooldWith(t, pooldConf{arbiter: ""})
	conf := filepath.Join(p.dir, "poold.toml")
	f, err := os.OpenFile(conf, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "\n[watchers.talk]\ncmd = \"/bin/sh\"\nargs = [\"-c\", %q]\n", talkScript)
	f.Close()
	p.ctl(t, "reloadconfig")
	followAcross(t, p, "start over", func(*workertest.Buffer, chan int) { p.restart(t) })
}

// followAcross runs `logs talk -f` while talk runs, then restart, after
// which talk's lines start over at tick 1: -f must go on, print the new
// run from its first tick with no gap, exit 0 when interrupted, and have
// said said on stderr. restart gets -f's stderr and exit channel.
func followAcross(t *testing.T, p *poold, said string, restart func(errs *workertest.Buffer, done chan int)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, errs := &workertest.Buffer{}, &workertest.Buffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--endpoint", p.control, "logs", "talk", "-f", "--stream", "stdout"}, out, errs)
	}()
	proctest.Eventually(t, "logs -f to show 5 ticks", func() bool { return len(allTicks(out.String())) >= 5 })
	restart(errs, done)
	var n []int
	proctest.Eventually(t, "logs -f to show the new run's first 20 ticks", func() bool {
		n = allTicks(out.String())
		i := slices.Index(n[1:], 1) + 1 // the new run's tick 1
		return i > 0 && len(n)-i >= 20
	})
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("logs -f exited %d, want 0; stderr:\n%s", code, errs.String())
	}
	n = allTicks(out.String())
	i := slices.Index(n[1:], 1) + 1
	for j := i + 1; j < len(n); j++ {
		if n[j] != n[j-1]+1 {
			t.Fatalf("after the restart logs -f printed tick %d after %d:\n%s", n[j], n[j-1], out.String())
		}
	}
	if !strings.Contains(errs.String(), said) {
		t.Errorf("logs -f did not say %q:\n%s", said, errs.String())
	}
}

func TestEscapeControls(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"plain text, tab\there, é ü 日本 \\x1b kept", "plain text, tab\there, é ü 日本 \\x1b kept"},
		{"ESC \x1b[2J\x1b[31mRED\x1b[0m", `ESC \x1b[2J\x1b[31mRED\x1b[0m`},
		{"bell\a cr\rX nul\x00 del\x7f", `bell\a cr\rX nul\x00 del\x7f`},
		{"bad \xff byte, good \ufffd", `bad \xff byte, good ` + "\ufffd"},
		{"c1 csi \u009b2J, rtl \u202eevil", `c1 csi \u009b2J, rtl \u202eevil`},
		{"\x1b", `\x1b`},
		{"", ""},
	}
	for _, tc := range tests {
		if got := escapeControls(tc.in); got != tc.want {
			t.Errorf("escapeControls(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// escScript writes a line full of what a terminal acts on, then sleeps.
const escScript = `printf 'ESC \033[2J\033[31mRED\033[0m bell\007 cr\rX nul\000 c1\302\233 tab\tend\n'; exec sleep 3600`

// TestLogsEscapeControlsOnATerminal: `poolctl logs` wrote workers' escape
// sequences and control bytes to the operator's terminal (it cleared the
// screen, rang the bell, \r overwrote the line). On a terminal they are
// now printed escaped; piped, and with --raw, the bytes are kept.
func TestLogsEscapeControlsOnATerminal(t *testing.T) {
	t.Parallel()
	p := startPoold(t)
	p.ctl(t, "add", "--start", "esc", "/bin/sh", "-c", escScript)
	rawLine := "1 out| ESC \x1b[2J\x1b[31mRED\x1b[0m bell\a cr\rX nul\x00 c1\u009b tab\tend\n"
	var r result
	proctest.Eventually(t, "the worker's line in the ring", func() bool {
		r = p.ctl(t, "logs", "esc")
		return strings.Contains(r.stdout, "end")
	})
	if r.stdout != rawLine {
		t.Errorf("logs into a pipe: %q, want the bytes as written %q", r.stdout, rawLine)
	}

	escaped := `1 out| ESC \x1b[2J\x1b[31mRED\x1b[0m bell\a cr\rX nul\x00 c1\u009b tab` + "\tend"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"logs", "esc"}, escaped},
		{[]string{"logs", "esc", "-f"}, escaped},
		{[]string{"logs", "esc", "--raw"}, strings.TrimSuffix(rawLine, "\n")},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			got := logsOnTerminal(t, p, tc.args, "end")
			if !strings.Contains(got, tc.want) {
				t.Errorf("the terminal got %q, want %q in it", got, tc.want)
			}
			if tc.want == escaped && strings.ContainsAny(got, "\x1b\a\x00") {
				t.Errorf("control bytes reached the terminal: %q", got)
			}
		})
	}
}

// logsOnTerminal runs poolctl with args and a pseudo-terminal for its
// stdout, until the terminal shows until; it returns what the terminal got.
func logsOnTerminal(t *testing.T, p *poold, args []string, until string) string {
	t.Helper()
	master, slave := openPTY(t)
	defer master.Close()
	// No output processing: the terminal gets the bytes poolctl wrote.
	tio, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	tio.Oflag &^= unix.OPOST
	if err := unix.IoctlSetTermios(int(slave.Fd()), unix.TCSETS, tio); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errs := &workertest.Buffer{}
	done := make(chan struct{})
	code := -1
	go func() {
		code = run(ctx, append(p.conn(), args...), slave, errs)
		// What it wrote is in the terminal's buffer by now: read it, then
		// stop (a poolctl that failed wrote nothing).
		master.SetReadDeadline(time.Now().Add(2 * time.Second))
		close(done)
	}()
	var got []byte
	buf := make([]byte, 4096)
	master.SetReadDeadline(time.Now().Add(30 * time.Second))
	for !strings.Contains(string(got), until) {
		n, err := master.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			cancel()
			<-done
			t.Fatalf("reading the terminal: %v; it got %q; poolctl exited %d, stderr %q", err, got, code, errs.String())
		}
	}
	cancel()
	<-done
	if code != 0 {
		t.Errorf("poolctl %v exited %d; stderr %q", args, code, errs.String())
	}
	return string(got)
}

// TestLogsSaysWhyThereAreNoLines: `logs` printed nothing and exited 0
// for a wid no worker has, and for a watcher that keeps no lines
// (log_ring = 0). It now says so (exit 1); -f warns of the wid and goes
// on (a scale-up may start that worker), and refuses a ring that keeps
// nothing, as no line would ever come.
func TestLogsSaysWhyThereAreNoLines(t *testing.T) {
	t.Parallel()
	p := startPoold(t)
	p.ctl(t, "add", "--start", "talk", "/bin/sh", "-c", talkScript) // one worker, wid 1
	proctest.Eventually(t, "lines of wid 1", func() bool {
		return strings.Contains(p.ctl(t, "logs", "talk", "--wid", "1").stdout, "1 out| tick")
	})

	r := poolctl(t, append(p.conn(), "logs", "talk", "--wid", "9")...)
	if want := `poolctl: watcher "talk" has no worker with wid 9 and no lines from one (its wids: 1)` + "\n"; r.code != exitReplyError || r.stderr != want || r.stdout != "" {
		t.Errorf("logs --wid 9: want exit 1 and %q, got %v", want, r)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errs := &workertest.Buffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append(p.conn(), "logs", "talk", "--wid", "9", "-f"), &workertest.Buffer{}, errs)
	}()
	proctest.Eventually(t, "logs -f --wid 9 to warn", func() bool {
		return strings.Contains(errs.String(), `poolctl: watcher "talk" has no worker with wid 9 (its wids: 1); following in case one starts`)
	})
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("logs -f --wid 9 exited %d after Ctrl-C, want 0; stderr %q", code, errs.String())
	}

	p.ctl(t, "set", "talk", "log_ring", "0", "stdout_log", "none")
	want := `poolctl: watcher "talk" keeps no lines in memory (log_ring = 0): its stdout goes to nowhere, its stderr to poold's own log; to keep some: poolctl set talk log_ring 1000` + "\n"
	for _, args := range [][]string{{"logs", "talk"}, {"logs", "talk", "-f"}} {
		r := poolctl(t, append(p.conn(), args...)...)
		if r.code != exitReplyError || r.stderr != want {
			t.Errorf("%v with log_ring 0: want exit 1 and %q, got %v", args, want, r)
		}
	}
	// A worker that exists but has not written: no complaint.
	p.ctl(t, "add", "--start", "quiet", "sleep", "3600")
	proctest.Eventually(t, "a worker of quiet", func() bool { return strings.TrimSpace(p.ctl(t, "list", "quiet").stdout) != "" })
	if r := p.ctl(t, "logs", "quiet", "--wid", "1"); r.stdout != "" || r.stderr != "" {
		t.Errorf("logs of a quiet worker: %v", r)
	}
}

// TestLogsFollowWaitsForARemovedWatcher: `logs -f` went on only while
// the watcher existed; an rm then add of the same name (a Circus-style
// deploy) ended it with "program talk not found". It now waits, and
// prints the new watcher's lines from its first, with no gap.
func TestLogsFollowWaitsForARemovedWatcher(t *testing.T) {
	t.Parallel()
	p := startPoold(t)
	p.ctl(t, "add", "--start", "talk", "/bin/sh", "-c", talkScript)
	followAcross(t, p, "talk was added again", func(errs *workertest.Buffer, done chan int) {
		p.ctl(t, "rm", "talk")
		proctest.Eventually(t, "logs -f to say talk was removed", func() bool { return strings.Contains(errs.String(), "talk was removed") })
		select {
		case code := <-done:
			t.Fatalf("logs -f exited %d when talk was removed; stderr:\n%s", code, errs.String())
		default:
		}
		p.ctl(t, "add", "--start", "talk", "/bin/sh", "-c", talkScript)
	})
}

var stampedRE = regexp.MustCompile(`^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (\d+)\[(\d+)\] (out|err)\| (tick|oops) \d+$`)

// TestLogsTimestamps: -t puts the time poold read each line and its
// worker's pid before the wid, as --json has them.
func TestLogsTimestamps(t *testing.T) {
	t.Parallel()
	p := startPoold(t)
	p.ctl(t, "add", "--start", "talk", "/bin/sh", "-c", talkScript)
	proctest.Eventually(t, "10 lines", func() bool { return len(allTicks(p.ctl(t, "logs", "talk", "-n", "20").stdout)) >= 5 })
	recs := map[string]logRecord{}
	for _, l := range strings.Split(strings.TrimSpace(p.ctl(t, "--json", "logs", "talk", "-n", "1000").stdout), "\n") {
		var r logRecord
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("--json printed %q: %v", l, err)
		}
		recs[r.Stream+" "+r.Line] = r
	}
	lines := strings.Split(strings.TrimSpace(p.ctl(t, "logs", "talk", "-t", "-n", "10").stdout), "\n")
	for _, l := range lines {
		m := stampedRE.FindStringSubmatch(l)
		if m == nil {
			t.Errorf("logs -t printed %q, want TIME WID[PID] STREAM| LINE", l)
			continue
		}
		stream, line := "std"+m[4], l[strings.Index(l, "| ")+2:]
		r, ok := recs[stream+" "+line]
		if !ok {
			continue // written after the --json call
		}
		if want := r.Time.UTC().Format(stampLayout); m[1] != want || m[2] != strconv.Itoa(r.Wid) || m[3] != strconv.Itoa(r.Pid) {
			t.Errorf("logs -t printed %q; --json has time %s, wid %d, pid %d", l, want, r.Wid, r.Pid)
		}
	}
}

// TestLogsNamePidsOfAWidWithSeveralWorkers: lines of one wid from two
// workers (a deadlocked one of an earlier reload, the one that failed
// now) were printed alike, "6 out| ..." and "6 err| ...", as if one
// worker wrote both (r57b-oncall L3). A wid with lines of several pids
// names each line's pid; one with a single worker stays as it was.
func TestLogsNamePidsOfAWidWithSeveralWorkers(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	a := &app{stdout: &out}
	recs := []logRecord{
		{Wid: 6, Pid: 25770, Stream: "stdout", Line: "starting, taking lock..."},
		{Wid: 1, Pid: 100, Stream: "stdout", Line: "serving"},
		{Wid: 6, Pid: 27857, Stream: "stderr", Line: "FATAL: cannot connect to database"},
	}
	if err := a.printLogs(recs); err != nil {
		t.Fatal(err)
	}
	want := "6[25770] out| starting, taking lock...\n1 out| serving\n6[27857] err| FATAL: cannot connect to database\n"
	if out.String() != want {
		t.Errorf("printed:\n%s\nwant:\n%s", out.String(), want)
	}
	// Following: a later batch with a new worker of wid 1 names it.
	out.Reset()
	if err := a.printLogs([]logRecord{{Wid: 1, Pid: 101, Stream: "stdout", Line: "serving again"}}); err != nil {
		t.Fatal(err)
	}
	if want := "1[101] out| serving again\n"; out.String() != want {
		t.Errorf("printed %q, want %q", out.String(), want)
	}
}
