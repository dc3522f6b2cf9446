package cgroup

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// domainControllers are cgroup v2 controllers that the kernel refuses to
// enable below a cgroup with processes of its own (EBUSY). Threaded ones,
// such as pids and cpu, it enables there by making the cgroup a threaded
// domain, which is worse: passDown moves the processes out first anyway.
var domainControllers = []string{"memory", "io", "hugetlb", "misc", "rdma"}

// freeDomainController finds a domain controller cgroup v2 offers at its
// root on this machine (on a hybrid host most are bound to v1), and that
// root's directory. No cgroup2 or no such controller: a skip, a failure
// under CI=true.
func freeDomainController(t *testing.T) (root, ctrl string) {
	t.Helper()
	_, mnt, err := Own()
	if err == nil && os.Geteuid() != 0 {
		err = errorString("not root")
	}
	if err == nil {
		have := strings.Fields(readFile(t, filepath.Join(mnt, "cgroup.controllers")))
		for _, c := range domainControllers {
			if slices.Contains(have, c) {
				return mnt, c
			}
		}
		err = errorString("cgroup v2 offers none of " + strings.Join(domainControllers, ", "))
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("no cgroup v2 domain controller to test with: %v", err)
	}
	t.Skipf("no cgroup v2 domain controller to test with: %v", err)
	return "", ""
}

type errorString string

func (e errorString) Error() string { return string(e) }

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Under systemd's Delegate=yes (or in a container's cgroup namespace)
// poold starts in the cgroup that must pass memory, pids or cpu down to
// the workers' cgroups, which cgroup v2 refuses while it holds a process
// (EBUSY). passDown moves the processes into SelfLeaf and enables the
// controller. Here a sleep stands for poold in its unit's cgroup.
func TestPassDownMovesProcessesIntoALeaf(t *testing.T) {
	root, ctrl := freeDomainController(t)
	// The root may pass any controller down, processes or not. It is
	// left on: turning it off again made another test run at the same
	// time (a second go test on the machine) fail.
	if err := os.WriteFile(filepath.Join(root, "cgroup.subtree_control"), []byte("+"+ctrl), 0); err != nil {
		t.Fatalf("enable %s at the cgroup v2 root: %v", ctrl, err)
	}
	unit := filepath.Join(root, "poold-test-unit-"+strconv.Itoa(os.Getpid()))
	if err := os.Mkdir(unit, 0o755); err != nil {
		t.Fatal(err)
	}
	tr := &Tree{Dir: filepath.Join(unit, TreePrefix+"leaftest"), enabled: map[string]bool{}}
	if err := os.Mkdir(tr.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	sleep := exec.Command("sleep", "1000")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = sleep.Process.Kill()
		_ = sleep.Wait()
		for _, d := range []string{tr.Dir, filepath.Join(unit, SelfLeaf), unit} {
			if err := unix.Rmdir(d); err != nil && !os.IsNotExist(err) {
				t.Errorf("remove test cgroup %s: %v", d, err)
			}
		}
	})
	pid := strconv.Itoa(sleep.Process.Pid)
	if err := os.WriteFile(filepath.Join(unit, "cgroup.procs"), []byte(pid), 0); err != nil {
		t.Fatal(err)
	}

	tr.mu.Lock()
	err := tr.passDown(ctrl)
	tr.mu.Unlock()
	if err != nil {
		t.Fatalf("pass %s down from a cgroup with a process in it: %v", ctrl, err)
	}
	leaf := filepath.Join(unit, SelfLeaf)
	if got := tr.Moved(); got != leaf {
		t.Errorf("Moved() = %q, want %q", got, leaf)
	}
	if procs := strings.Fields(readFile(t, filepath.Join(leaf, "cgroup.procs"))); !slices.Contains(procs, pid) {
		t.Errorf("process %s not moved into %s (it holds %v)", pid, leaf, procs)
	}
	for _, d := range []string{unit, tr.Dir} {
		if on := strings.Fields(readFile(t, filepath.Join(d, "cgroup.subtree_control"))); !slices.Contains(on, ctrl) {
			t.Errorf("%s/cgroup.subtree_control = %v, want %s in it", d, on, ctrl)
		}
	}
	if got := aboveLeaf(leaf, root); got != unit {
		t.Errorf("a poold in %s takes its cgroup for %s, want %s", leaf, got, unit)
	}

	// At the end, with the tree gone, the unit's cgroup passes nothing
	// down any more: an older systemd restarting the unit must be able to
	// put the next poold into it.
	if err := unix.Rmdir(tr.Dir); err != nil {
		t.Fatal(err)
	}
	tr.mu.Lock()
	tr.unpass()
	tr.mu.Unlock()
	if on := strings.Fields(readFile(t, filepath.Join(unit, "cgroup.subtree_control"))); slices.Contains(on, ctrl) {
		t.Errorf("%s/cgroup.subtree_control = %v after unpass, want no %s", unit, on, ctrl)
	}
}

// A tree right below the root cgroup (a hybrid host's poold, in "/")
// passes controllers down with nothing moved: the root's processes are
// the whole machine's, and the kernel's rule does not hold there.
func TestPassDownAtTheRootMovesNothing(t *testing.T) {
	root, ctrl := freeDomainController(t)
	if !isRoot(root) {
		t.Fatalf("isRoot(%s) = false for the cgroup v2 root", root)
	}
	// Not named as a tree: a poold running meanwhile prunes the empty
	// trees of others at its root (prune). The controller stays on at
	// the root (see TestPassDownMovesProcessesIntoALeaf).
	tr := &Tree{Dir: filepath.Join(root, "poold-test-root-"+strconv.Itoa(os.Getpid())), enabled: map[string]bool{}}
	if err := os.Mkdir(tr.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Rmdir(tr.Dir) })
	before := readFile(t, filepath.Join(root, "cgroup.procs"))
	tr.mu.Lock()
	err := tr.passDown(ctrl)
	tr.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if tr.Moved() != "" {
		t.Errorf("Moved() = %q at the root, want nothing moved", tr.Moved())
	}
	if _, err := os.Stat(filepath.Join(root, SelfLeaf)); err == nil {
		t.Errorf("%s made at the root", SelfLeaf)
	}
	if n := len(strings.Fields(readFile(t, filepath.Join(root, "cgroup.procs")))); n < len(strings.Fields(before))/2 {
		t.Errorf("the root cgroup went from %d processes to %d", len(strings.Fields(before)), n)
	}
}

func TestAboveLeaf(t *testing.T) {
	for _, c := range []struct{ dir, mnt, want string }{
		{"/sys/fs/cgroup/system.slice/poold.service/poold.self", "/sys/fs/cgroup", "/sys/fs/cgroup/system.slice/poold.service"},
		{"/sys/fs/cgroup/system.slice/poold.service", "/sys/fs/cgroup", "/sys/fs/cgroup/system.slice/poold.service"},
		{"/sys/fs/cgroup/poold.self", "/sys/fs/cgroup/poold.self", "/sys/fs/cgroup/poold.self"}, // a namespace rooted there
	} {
		if got := aboveLeaf(c.dir, c.mnt); got != c.want {
			t.Errorf("aboveLeaf(%q, %q) = %q, want %q", c.dir, c.mnt, got, c.want)
		}
	}
}
