package spawn

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
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

// TestPidsReserve: a fork that would leave poold fewer than pidsReserve
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
	tight := cgroup("40", 40-pidsReserve)
	if err := check(roomy, unlimited); err != nil {
		t.Errorf("room left: %v", err)
	}
	if err := check(cgroup("40", 40-pidsReserve-1)); err != nil {
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
	}{{10, false}, {100 - pidsReserve, true}, {100 - pidsReserve - 1, false}} {
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
