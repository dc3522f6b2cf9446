package spawn

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestPidsCgroupDir finds poold's pids cgroup from /proc/self/cgroup and
// /proc/self/mountinfo as a hybrid host, a pure cgroup v2 host, a container
// with and without a cgroup namespace and a host without pids show them.
func TestPidsCgroupDir(t *testing.T) {
	const hybridMounts = `30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
38 30 0:35 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`
	cases := []struct {
		name, cgroup, mounts string
		dir, mnt             string // "": none found
	}{
		{
			name:   "v1 pids on a hybrid host",
			cgroup: "9:name=systemd:/\n8:pids:/poold-test\n0::/\n",
			mounts: hybridMounts,
			dir:    "/sys/fs/cgroup/pids/poold-test", mnt: "/sys/fs/cgroup/pids",
		},
		{
			name:   "v2 only",
			cgroup: "0::/system.slice/poold.service\n",
			mounts: "25 21 0:22 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n",
			dir:    "/sys/fs/cgroup/system.slice/poold.service", mnt: "/sys/fs/cgroup",
		},
		{
			name:   "container with a cgroup namespace",
			cgroup: "0::/\n",
			mounts: "700 690 0:22 / /sys/fs/cgroup ro,nosuid - cgroup2 cgroup rw\n",
			dir:    "/sys/fs/cgroup", mnt: "/sys/fs/cgroup",
		},
		{
			name:   "v1 container without a cgroup namespace",
			cgroup: "5:pids,devices:/docker/abc\n",
			mounts: "801 790 0:40 /docker/abc /sys/fs/cgroup/pids ro - cgroup cgroup rw,devices,pids\n",
			dir:    "/sys/fs/cgroup/pids", mnt: "/sys/fs/cgroup/pids",
		},
		{
			name:   "cgroup outside the mounted part",
			cgroup: "5:pids:/docker/abcdef\n",
			mounts: "801 790 0:40 /docker/abc /sys/fs/cgroup/pids ro - cgroup cgroup rw,pids\n",
		},
		{
			name:   "escaped mount point",
			cgroup: "0::/a\n",
			mounts: `25 21 0:22 / /cg\040root rw - cgroup2 cgroup2 rw` + "\n",
			dir:    "/cg root/a", mnt: "/cg root",
		},
		{
			name:   "no pids controller",
			cgroup: "4:memory:/x\n",
			mounts: hybridMounts,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir, mnt, ok := pidsCgroupDir(tc.cgroup, tc.mounts)
			if ok != (tc.dir != "") || dir != tc.dir || mnt != tc.mnt {
				t.Errorf("got %q under %q (%v), want %q under %q", dir, mnt, ok, tc.dir, tc.mnt)
			}
		})
	}
}

// TestPidsReserve: a fork that would leave poold fewer than keptFree
// pids under any of its limits is refused with an error matching EAGAIN
// that names the limit and the cgroup; "max" is no limit.
func TestPidsReserve(t *testing.T) {
	cgroup := func(max string, cur int) string {
		dir := t.TempDir()
		for name, v := range map[string]string{"pids.max": max + "\n", "pids.current": strconv.Itoa(cur) + "\n"} {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	check := func(limits ...string) error {
		var w pidsWatch
		defer w.close()
		w.setLimits(limits)
		return w.checkLimits()
	}
	roomy, unlimited := cgroup("100", 10), cgroup("max", 5000)
	tight := cgroup("40", 40-keptFree())
	if err := check(roomy, unlimited); err != nil {
		t.Errorf("room left: %v", err)
	}
	if err := check(cgroup("40", 40-keptFree()-1)); err != nil {
		t.Errorf("one pid above the reserve: %v", err)
	}
	err := check(roomy, tight)
	if !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("at the reserve: %v, want EAGAIN", err)
	}
	for _, want := range []string{"pids.max 40", tight, "raise pids.max"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}

	// One watch, its files kept open, sees pids.current as it changes.
	var w pidsWatch
	defer w.close()
	w.setLimits(pidsLimits{roomy})
	for _, tc := range []struct {
		cur    int
		refuse bool
	}{{10, false}, {100 - keptFree(), true}, {100 - keptFree() - 1, false}} {
		if err := os.WriteFile(filepath.Join(roomy, "pids.current"), []byte(strconv.Itoa(tc.cur)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := w.checkLimits(); (err != nil) != tc.refuse {
			t.Errorf("pids.current %d of 100: %v, want refused %v", tc.cur, err, tc.refuse)
		}
	}
}

// BenchmarkPidsCheck is the pids reserve's price on every start: this
// process's limits (its own cgroup's and each visible ancestor's) looked
// up and checked, as the spawner does before each fork.
func BenchmarkPidsCheck(b *testing.B) {
	var w pidsWatch
	w.open()
	defer w.close()
	if err := w.check(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(len(w.limits)), "limits")
	for b.Loop() {
		if err := w.check(); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSparesCountAgainstTheReserve: under a limit with room for the
// reserve and a few more pids, poold made its spare threads and still
// kept all 16 pids of its reserve free, so it started no worker at all
// (r55 container review: docker --pids-limit 30). The spares are threads
// of the reserve made ahead: a child in a pids cgroup with room for the
// reserve and 4 pids must start a worker, and say what it keeps.
func TestSparesCountAgainstTheReserve(t *testing.T) {
	dir := pidsCgroup(t, "poold-reserve-")
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", `echo $$ > "$0/cgroup.procs" && exec "$1" -test.run=none`, dir, self(t))
	cmd.Env = append(os.Environ(), childEnv+"=reserve", cgroupEnv+"="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the child under a tight pids limit: %v\n%s", err, out)
	}
	want := fmt.Sprintf("kept %d free, %d spares", pidsReserve-spareThreads, spareThreads)
	if !strings.Contains(string(out), want) {
		t.Fatalf("the child's output lacks %q:\n%s", want, out)
	}
}

// pidsCgroup makes a pids cgroup of cgroup v1's for a child to run in,
// removed at the end (once the child, waited for, has left it).
func pidsCgroup(t *testing.T, prefix string) string {
	t.Helper()
	if _, err := os.Stat(filepath.Join(pidsV1, "cgroup.procs")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no pids controller at %s: %v; CI runs as root with it mounted", pidsV1, err)
		}
		t.Skipf("no pids controller at %s: %v", pidsV1, err)
	}
	dir, err := os.MkdirTemp(pidsV1, prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Remove(dir) })
	return dir
}

// runTightLimit is the "reserve" child: see the test above. Exit 0 once
// it started a worker under a limit with room for the reserve and 4.
func runTightLimit() int {
	dir := os.Getenv(cgroupEnv)
	if err := setPidsMax(dir, pidsReserve+4); err != nil {
		fmt.Println("set the limit:", err)
		return 1
	}
	s := New(os.Args[0])
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = s.Run(ctx) }()
	defer func() { cancel(); wg.Wait() }()
	p, err := s.Start(ProcSpec{Path: "/bin/true", Argv: []string{"true"}, Umask: -1})
	if err != nil {
		fmt.Println("start:", err)
		return 1
	}
	_, _ = p.Wait()
	b, ok := PidsLimit()
	if !ok || b.Cgroup != dir {
		fmt.Printf("PidsLimit: %+v %v, want the limit of %s\n", b, ok, dir)
		return 1
	}
	if b.Poold < 1 || b.InUse < b.Poold || b.Left != b.Max-b.Poold-b.Kept {
		fmt.Printf("PidsLimit: %+v\n", b)
		return 1
	}
	fmt.Printf("kept %d free, %d spares; pids.max %d, %d in use, %d threads, %d left\n", b.Kept, sparesMade.Load(), b.Max, b.InUse, b.Poold, b.Left)
	return 0
}

// TestPidsBudget: the tightest limit is the one that leaves the fewest
// pids, and what it leaves for workers is pids.max less poold's threads
// and the pids it keeps free.
func TestPidsBudget(t *testing.T) {
	mk := func(max string, cur int) string {
		dir := t.TempDir()
		for name, v := range map[string]string{"pids.max": max + "\n", "pids.current": strconv.Itoa(cur) + "\n"} {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	const threads = 16
	wide, tight, none, full := mk("1000", 100), mk("60", 30), mk("max", 5), mk("20", 19)
	for _, tc := range []struct {
		name   string
		limits pidsLimits
		want   PidsBudget
		found  bool
	}{
		{"no limit", pidsLimits{none}, PidsBudget{Poold: threads, Kept: keptFree()}, false},
		{"the tightest", pidsLimits{wide, none, tight},
			PidsBudget{Cgroup: tight, Max: 60, InUse: 30, Poold: threads, Kept: keptFree(), Left: 60 - threads - keptFree()}, true},
		{"nothing left", pidsLimits{full}, PidsBudget{Cgroup: full, Max: 20, InUse: 19, Poold: threads, Kept: keptFree()}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var w pidsWatch
			defer w.close()
			w.setLimits(tc.limits)
			got, found := w.budget(threads)
			if got != tc.want || found != tc.found {
				t.Errorf("got %+v %v, want %+v %v", got, found, tc.want, tc.found)
			}
		})
	}
}

// TestPidsCheckReadsOncePerFewForks: the check before each fork read
// /proc/self/cgroup and every limit's files each time, about 3 % of
// poold's CPU in a spawn of 5,000 (issue 18). A check that finds room
// now lets the next few pass without a read, as many as half the room
// above the reserve allows, and none once pidsSkipFor has passed.
func TestPidsCheckReadsOncePerFewForks(t *testing.T) {
	var w pidsWatch
	w.open()
	defer w.close()
	for range 100 {
		if err := w.check(); err != nil {
			t.Fatalf("check: %v", err)
		}
	}
	perCheck := 1 + 2*len(w.limits) // /proc/self/cgroup, each limit's max and current
	if most := (100/pidsSkipMax + 2) * perCheck; w.reads > most {
		t.Errorf("100 checks read %d files, want at most %d", w.reads, most)
	}
	w.skipUntil = time.Now().Add(-time.Millisecond) // its time is over
	before := w.reads
	if err := w.check(); err != nil {
		t.Fatal(err)
	}
	if w.reads == before {
		t.Error("a check after pidsSkipFor read nothing")
	}

	cgroup := func(max, cur int) string {
		dir := t.TempDir()
		for name, v := range map[string]int{"pids.max": max, "pids.current": cur} {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(strconv.Itoa(v)+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	for _, tc := range []struct{ room, skip int }{
		{keptFree() + 1, 0}, {keptFree() + 3, 1}, {keptFree() + 10, 5}, {keptFree() + 1000, pidsSkipMax},
	} {
		var l pidsWatch
		l.setLimits(pidsLimits{cgroup(5000, 5000-tc.room), cgroup(100000, 10)})
		if err := l.checkLimits(); err != nil {
			t.Fatalf("room %d: %v", tc.room, err)
		}
		if got := l.skippable(); got != tc.skip {
			t.Errorf("room %d above a reserve of %d: %d checks skipped, want %d", tc.room, keptFree(), got, tc.skip)
		}
		l.close()
	}
}
