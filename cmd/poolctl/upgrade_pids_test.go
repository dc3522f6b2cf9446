package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// pidsRoot is where this machine and CI mount cgroup v1's pids controller.
const pidsRoot = "/sys/fs/cgroup/pids"

// TestUpgradePreflightAtAFullPidsLimitNamesIt: with poold's pids limit
// full, the pre-flight's fork failed with "resource temporarily
// unavailable: " and nothing on which limit or what to do, unlike a
// worker's spawn. Worse, short of full, its runs of the new binary (a Go
// runtime's threads each) took the pids poold keeps for its own threads,
// whose lack aborts poold. At poold's reserve, the pre-flight is refused
// before it forks, naming pids.max, the cgroup and what to do, as a
// spawn is; poold keeps room for its threads throughout. The pre-flight
// also needs room for its own runs beyond that reserve.
func TestUpgradePreflightAtAFullPidsLimitNamesIt(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat(filepath.Join(pidsRoot, "cgroup.procs")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no pids controller at %s: %v; CI runs as root with it mounted", pidsRoot, err)
		}
		t.Skipf("no pids controller at %s: %v", pidsRoot, err)
	}
	dir, err := os.MkdirTemp(pidsRoot, "poold-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Remove(dir) }) // once poold, stopped first, has left it
	write := func(file, v string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, file), []byte(v), 0o644); err != nil {
			t.Fatalf("cgroup %s: %v", dir, err)
		}
	}
	p := startPoold(t)
	write("cgroup.procs", strconv.Itoa(p.cmd.Process.Pid))
	t.Cleanup(func() { p.stop(t) })
	b, err := os.ReadFile(filepath.Join(dir, "pids.current"))
	if err != nil {
		t.Fatal(err)
	}
	cur, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	// Room for poold's reserve of 16 and a few more, not for the
	// pre-flight's runs of the new binary, a Go program with threads of
	// its own (r49b review: they ate into the reserve).
	limit := strconv.Itoa(cur + 16 + 6)
	write("pids.max", limit)
	r := poolctl(t, "--endpoint", p.control, "upgrade")
	write("pids.max", "max")
	t.Logf("poolctl upgrade at a full pids limit: %v", r)
	want := "of pids.max " + limit + " are in use in cgroup " + dir + ": poold keeps the last 16 for its own threads, and needs 12 more"
	if r.code != 1 || !strings.Contains(r.stderr, "upgrade refused, nothing changed") || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "raise pids.max") {
		t.Fatalf("upgrade at a full pids limit: %v\nwant exit 1 naming %q; poold's log:\n%s", r, want, p.log())
	}
}
