package procinfo

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fakeProc is a /proc tree in a temp dir with clocks the test moves, for the
// CPU arithmetic and forgetting rules, which real processes make noisy.
type fakeProc struct {
	tb   testing.TB
	root string
	now  time.Time
	up   time.Duration // time since boot
}

const fakeBoot = 1_700_000_000

func newFakeProc(tb testing.TB) (*fakeProc, *Sampler) {
	tb.Helper()
	f := &fakeProc{tb: tb, root: tb.TempDir(), now: time.Unix(fakeBoot+1000, 0), up: 1000 * time.Second}
	f.write("stat", "cpu  1 2 3 4 5 6 7 8 9 10\nbtime "+strconv.Itoa(fakeBoot)+"\n")
	f.write("meminfo", "MemTotal:       1048576 kB\nMemFree:         524288 kB\n")
	s := NewAt(f.root)
	s.now = func() time.Time { return f.now }
	s.sinceBoot = func() (time.Duration, error) { return f.up, nil }
	return f, s
}

func (f *fakeProc) write(name, content string) {
	f.tb.Helper()
	p := filepath.Join(f.root, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		f.tb.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		f.tb.Fatal(err)
	}
}

type fakeStat struct {
	pid, ppid       int
	comm            string
	utime, stime    uint64
	nice            int
	starttime       uint64 // ticks after boot
	vsize, rssPages uint64
	argv            []string
	uid             int
}

func (f *fakeProc) proc(st fakeStat) {
	f.tb.Helper()
	dir := strconv.Itoa(st.pid)
	// Fields after comm, per proc(5): state ppid pgrp session tty tpgid
	// flags minflt cminflt majflt cmajflt utime stime cutime cstime
	// priority nice num_threads itrealvalue starttime vsize rss, then 30
	// more that the sampler does not use.
	line := fmt.Sprintf("%d (%s) S %d %d %d 0 -1 0 0 0 0 0 %d %d 0 0 20 %d 1 0 %d %d %d",
		st.pid, st.comm, st.ppid, st.pid, st.pid, st.utime, st.stime, st.nice, st.starttime, st.vsize, st.rssPages)
	line += strings.Repeat(" 0", 30) + "\n"
	f.write(dir+"/stat", line)
	f.write(dir+"/cmdline", strings.Join(st.argv, "\x00")+"\x00")
	u := strconv.Itoa(st.uid)
	f.write(dir+"/status", "Name:\t"+st.comm+"\nUid:\t"+u+"\t"+u+"\t"+u+"\t"+u+"\n")
}

func (f *fakeProc) remove(pid int) {
	if err := os.RemoveAll(filepath.Join(f.root, strconv.Itoa(pid))); err != nil {
		f.tb.Fatal(err)
	}
}

func (f *fakeProc) advance(d time.Duration) {
	f.now = f.now.Add(d)
	f.up += d
}

func mustInfo(tb testing.TB, s *Sampler, pid int) Info {
	tb.Helper()
	in, err := s.Info(pid)
	if err != nil {
		tb.Fatal(err)
	}
	return in
}

func TestFakeProcFigures(t *testing.T) {
	f, s := newFakeProc(t)
	// Started 100 s after boot, so 900 s old; 90 s of CPU in its life.
	w := fakeStat{pid: 42, ppid: 1, comm: "python3", utime: 6000, stime: 3000, nice: 5,
		starttime: 100 * userHZ, vsize: 3 << 30, rssPages: 3584,
		argv: []string{"/usr/bin/python3", "-u", "app.py"}, uid: 0}
	f.proc(w)

	in := mustInfo(t, s, 42)
	pageSize := uint64(os.Getpagesize())
	want := Info{
		PID: 42, Cmdline: "python3", Username: "root", Nice: 5,
		CPU:        10, // lifetime: 90 s over 900 s
		Mem:        Float(round3(float64(3584*pageSize) / (1 << 30) * 100)),
		MemInfo1:   HumanSize(3584 * pageSize),
		MemInfo2:   "3.00G",
		Ctime:      "1:30.00",
		CreateTime: fakeBoot + 100, Age: 900, Started: fakeBoot + 100,
		Children: []Info{}, RSS: 3584 * pageSize, VMS: 3 << 30,
		CPUUser: 60, CPUSystem: 30, PPID: 1, Threads: 1, ProcState: "sleeping",
		Argv: w.argv,
	}
	if fmt.Sprintf("%+v", in) != fmt.Sprintf("%+v", want) {
		t.Errorf("first sample:\n got %+v\nwant %+v", in, want)
	}

	// 1 s later, 0.5 s more CPU: 50%.
	f.advance(time.Second)
	w.utime += 50
	f.proc(w)
	if in := mustInfo(t, s, 42); in.CPU != 50 || in.Ctime != "1:30.50" {
		t.Errorf("after 1 s: cpu, ctime = %v, %q; want 50, 1:30.50", in.CPU, in.Ctime)
	}

	// A call sooner than MinCPUInterval keeps the last figure and the
	// baseline: 100 ms with 10 ms CPU would be 10%, and the baseline would
	// then be 100 ms old at the next sample.
	f.advance(100 * time.Millisecond)
	w.utime++
	f.proc(w)
	if in := mustInfo(t, s, 42); in.CPU != 50 {
		t.Errorf("after 100 ms: cpu = %v, want the last figure 50", in.CPU)
	}
	f.advance(900 * time.Millisecond)
	w.utime += 24 // 25 ticks since the baseline 1 s ago
	f.proc(w)
	if in := mustInfo(t, s, 42); in.CPU != 25 {
		t.Errorf("1 s after the baseline: cpu = %v, want 25", in.CPU)
	}

	// The pid is reused by a new process (start time differs): its
	// lifetime average, not a delta against the old process.
	f.advance(time.Second)
	w = fakeStat{pid: 42, ppid: 1, comm: "sleep", utime: 10, starttime: uint64(f.up/time.Second-10) * userHZ,
		rssPages: 10, argv: []string{"sleep", "60"}, uid: 65534}
	f.proc(w)
	in = mustInfo(t, s, 42)
	if in.CPU != 1 || in.Cmdline != "sleep" || in.Age != 10 {
		t.Errorf("reused pid: cpu, cmdline, age = %v, %q, %v; want 1, sleep, 10", in.CPU, in.Cmdline, in.Age)
	}
	if in.Username != "65534" && in.Username != "nobody" {
		t.Errorf("username of uid 65534 = %q", in.Username)
	}
}

func TestFakeProcTreeAndForgetting(t *testing.T) {
	f, s := newFakeProc(t)
	base := fakeStat{comm: "w", starttime: 100 * userHZ, argv: []string{"w"}}
	for _, p := range []struct{ pid, ppid int }{{10, 1}, {11, 10}, {12, 10}, {13, 11}, {20, 1}, {21, 20}} {
		st := base
		st.pid, st.ppid = p.pid, p.ppid
		f.proc(st)
	}
	m, err := s.Sample([]int{10, 20, 99})
	if err != nil {
		t.Fatal(err)
	}
	if got := treeString(m[10]); got != "10(11(13) 12)" {
		t.Errorf("tree of 10 = %s", got)
	}
	if got := treeString(m[20]); got != "20(21)" {
		t.Errorf("tree of 20 = %s", got)
	}
	if _, ok := m[99]; ok || len(m) != 2 {
		t.Errorf("sample has %d entries, want 2 (99 does not exist)", len(m))
	}
	remembered := func() []int {
		s.mu.Lock()
		defer s.mu.Unlock()
		var pids []int
		for pid := range s.procs {
			pids = append(pids, pid)
		}
		slices.Sort(pids)
		return pids
	}
	if got := fmt.Sprint(remembered()); got != "[10 11 12 13 20 21]" {
		t.Errorf("remembered %s", got)
	}

	// 13 exits: forgotten at the next full scan of /proc (FullScanEvery),
	// whatever was asked; a sample that looks at 13 forgets it at once.
	f.remove(13)
	f.advance(FullScanEvery)
	mustInfo(t, s, 20)
	if got := fmt.Sprint(remembered()); got != "[10 11 12 20 21]" {
		t.Errorf("after 13 exits, remembered %s", got)
	}
	// 10's tree is alive but not asked about: kept for ForgetAfter.
	f.advance(ForgetAfter)
	mustInfo(t, s, 20)
	if got := fmt.Sprint(remembered()); got != "[20 21]" {
		t.Errorf("after %v without asking for 10, remembered %s", ForgetAfter, got)
	}
}

func treeString(in Info) string {
	s := strconv.Itoa(in.PID)
	if len(in.Children) == 0 {
		return s
	}
	var kids []string
	for _, c := range in.Children {
		kids = append(kids, treeString(c))
	}
	return s + "(" + strings.Join(kids, " ") + ")"
}

// A starting process may change its title (setproctitle) or owner: argv and
// owner are read when first seen and once more when it is identitySettle
// old, and never after.
func TestFakeProcIdentitySettles(t *testing.T) {
	f, s := newFakeProc(t)
	w := fakeStat{pid: 7, ppid: 1, comm: "python3", starttime: uint64(f.up/time.Second-1) * userHZ,
		argv: []string{"/usr/bin/python3", "-m", "gunicorn"}, uid: 0}
	f.proc(w)
	if in := mustInfo(t, s, 7); in.Cmdline != "python3" {
		t.Errorf("at 1 s: cmdline = %q, want python3", in.Cmdline)
	}
	w.argv, w.uid = []string{"gunicorn: master [app]"}, 65534
	f.proc(w)
	f.advance(time.Second)
	if in := mustInfo(t, s, 7); in.Cmdline != "python3" || in.Username != "root" {
		t.Errorf("at 2 s: cmdline, username = %q, %q; want the first reading", in.Cmdline, in.Username)
	}
	f.advance(identitySettle)
	in := mustInfo(t, s, 7)
	if in.Cmdline != "gunicorn:" || in.Username == "root" || len(in.Argv) != 1 {
		t.Errorf("settled: cmdline, username, argv = %q, %q, %q; want the new title and owner", in.Cmdline, in.Username, in.Argv)
	}
	w.argv = []string{"changed again"}
	f.proc(w)
	f.advance(time.Minute)
	if in := mustInfo(t, s, 7); in.Cmdline != "gunicorn:" {
		t.Errorf("long after: cmdline = %q, want it no longer re-read", in.Cmdline)
	}
}

// TestFakeProcManyReadSideBySide: a sample with enough new processes to
// read them from several goroutines (parallel.go) gives each process its
// own argv, owner and figures, as the one-by-one reads do.
func TestFakeProcManyReadSideBySide(t *testing.T) {
	f, s := newFakeProc(t)
	n := 4*perReader + 3
	var pids []int
	for i := range n {
		pid := 100 + i
		f.proc(fakeStat{pid: pid, ppid: 1, comm: "w", utime: uint64(i), starttime: 100,
			argv: []string{"worker-" + strconv.Itoa(pid), "--wid", strconv.Itoa(i)}, uid: 100000 + i})
		pids = append(pids, pid)
	}
	got, err := s.Sample(pids)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Fatalf("sampled %d of %d", len(got), n)
	}
	for i, pid := range pids {
		in := got[pid]
		if in.Cmdline != "worker-"+strconv.Itoa(pid) || in.Username != strconv.Itoa(100000+i) ||
			len(in.Argv) != 3 || in.Argv[2] != strconv.Itoa(i) || in.CPUUser != float64(i)/userHZ {
			t.Fatalf("pid %d: %q %q %q user %v", pid, in.Cmdline, in.Username, in.Argv, in.CPUUser)
		}
	}
	if s.fetched != nil {
		t.Error("identities read ahead are kept after the sample")
	}
	// Between full scans the same processes, and a child of the last one
	// that the scan saw, are read side by side too: each figure must land
	// on its own pid.
	last := pids[n-1]
	f.proc(fakeStat{pid: 5000, ppid: last, comm: "c", starttime: 100, argv: []string{"child"}})
	s.scanAt = time.Time{} // the next sample scans, and learns the child
	if _, err := s.Sample(pids); err != nil {
		t.Fatal(err)
	}
	for i, pid := range pids {
		f.proc(fakeStat{pid: pid, ppid: 1, comm: "w", utime: uint64(7 * i), starttime: 100,
			argv: []string{"worker-" + strconv.Itoa(pid), "--wid", strconv.Itoa(i)}, uid: 100000 + i})
	}
	f.proc(fakeStat{pid: 5000, ppid: last, comm: "c", utime: 99, starttime: 100, argv: []string{"child"}})
	scanned := s.scanAt
	got, err = s.Sample(pids)
	if err != nil {
		t.Fatal(err)
	}
	if s.scanAt != scanned {
		t.Fatal("the second sample scanned every process: want it between full scans")
	}
	for i, pid := range pids {
		if in := got[pid]; in.CPUUser != float64(7*i)/userHZ {
			t.Fatalf("between scans, pid %d: user %v, want %v", pid, in.CPUUser, float64(7*i)/userHZ)
		}
	}
	if kids := got[last].Children; len(kids) != 1 || kids[0].PID != 5000 || kids[0].CPUUser != float64(99)/userHZ {
		t.Fatalf("between scans, the child of %d: %+v", last, kids)
	}
}

// Defect: between two full scans a sample walks the trees it learnt at the
// last one, and a child that had exited since was shown as a process of
// zeros (no argv, no parent, a bogus age) until the next full scan. It is
// left out.
func TestFakeProcExitedChildLeftOut(t *testing.T) {
	f, s := newFakeProc(t)
	f.proc(fakeStat{pid: 10, ppid: 1, comm: "w", starttime: 100, argv: []string{"w"}})
	f.proc(fakeStat{pid: 11, ppid: 10, comm: "c", starttime: 100, argv: []string{"c"}})
	if in := mustSample(t, s, 10); len(in.Children) != 1 || in.Children[0].Cmdline != "c" {
		t.Fatalf("with its child: %s", treeString(in))
	}
	f.remove(11)
	f.advance(time.Second) // before the next full scan
	if in := mustSample(t, s, 10); len(in.Children) != 0 {
		t.Errorf("after the child exited: %s, want no child", treeString(in))
	}
}

func mustSample(tb testing.TB, s *Sampler, pid int) Info {
	tb.Helper()
	got, err := s.Sample([]int{pid})
	if err != nil {
		tb.Fatal(err)
	}
	in, ok := got[pid]
	if !ok {
		tb.Fatalf("pid %d not sampled", pid)
	}
	return in
}
