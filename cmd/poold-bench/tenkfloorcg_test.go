package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestFloorCgReplace checks the burst floor with cgroups: each floor
// worker is moved into a cgroup of its own, a killed one's replacement
// starts in the same cgroup, and the stop removes every cgroup it made.
func TestFloorCgReplace(t *testing.T) {
	fl, err := newForkFloor("/bin/sleep", []string{"sleep", "1000"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			fl.stop(syscall.SIGKILL, 5*time.Second)
		}
	}()
	if err := fl.fork(3); err != nil {
		t.Fatal(err)
	}
	cg, err := floorCgroups(fl)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no cgroup v2 the bench may write: %v; CI runs as root with cgroup2 mounted", err)
		}
		t.Skipf("no cgroup v2 the bench may write: %v", err)
	}
	for i, pid := range fl.pids {
		if got := v2Path(t, pid); !strings.HasSuffix(cg.dirs[i], got) {
			t.Fatalf("floor worker %d is in cgroup %q, want %s", pid, got, cg.dirs[i])
		}
	}
	old := fl.pids[1]
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := cg.replace(1); err != nil {
		t.Fatal(err)
	}
	if fl.pids[1] == old {
		t.Fatalf("replace kept pid %d", old)
	}
	if got := v2Path(t, fl.pids[1]); !strings.HasSuffix(cg.dirs[1], got) {
		t.Fatalf("replacement %d is in cgroup %q, want %s (its predecessor's)", fl.pids[1], got, cg.dirs[1])
	}
	_, why := floorStop(fl, cg)
	stopped = true
	if why != "" {
		t.Fatalf("floorStop says the workers had no cgroups: %s", why)
	}
	for _, d := range append(cg.dirs, cg.tree) {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Fatalf("cgroup %s is left after the stop (stat: %v)", d, err)
		}
	}
}

// v2Path is pid's cgroup v2 path as /proc/PID/cgroup names it.
func v2Path(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cgroup"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			return p
		}
	}
	t.Fatalf("pid %d has no cgroup v2 line: %q", pid, b)
	return ""
}
