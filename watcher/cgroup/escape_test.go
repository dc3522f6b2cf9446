package cgroup

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// A process in its group has not left it; one moved to the root of
// cgroup v2 has, and Left says where it is now.
func TestLeftSaysWhereTheWorkerWent(t *testing.T) {
	tr := openTree(t, testName(t))
	g, err := tr.NewGroup("w", 1, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = g.Remove() }()
	cmd := exec.Command("/bin/sleep", "1000")
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: g.FD()}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	if where := g.Left(cmd.Process.Pid); where != "" {
		t.Fatalf("Left = %q for a process in its group", where)
	}
	// A cgroup of the worker's own below its group is still in it (the
	// first version took only the path's last name, and called it left).
	sub := filepath.Join(g.Dir, "own")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(sub)
	moveTo(t, sub, cmd.Process.Pid)
	if where := g.Left(cmd.Process.Pid); where != "" {
		t.Fatalf("Left = %q for a process in a cgroup below its group's", where)
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	root := ""
	for _, m := range Mounts(string(mi)) {
		if m.FSType == "cgroup2" && m.Root == "/" {
			root = m.Point
		}
	}
	if root == "" {
		t.Fatal("no cgroup2 mount of its root in /proc/self/mountinfo, yet a tree was made")
	}
	moveTo(t, root, cmd.Process.Pid)
	if where := g.Left(cmd.Process.Pid); !strings.HasPrefix(where, "0::") {
		t.Fatalf("Left = %q after a move to %s, want its 0:: line", where, root)
	}
}

// moveTo writes pid into the cgroup.procs of dir.
func moveTo(t *testing.T, dir string, pid int) {
	t.Helper()
	// O_WRONLY without O_CREATE: a cgroup file, never a new one.
	f, err := os.OpenFile(filepath.Join(dir, "cgroup.procs"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteString(strconv.Itoa(pid))
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
}

// BenchmarkLeft is the price of the stats tick's look, per worker.
func BenchmarkLeft(b *testing.B) {
	g := &Group{Dir: "/sys/fs/cgroup/x/w-web.1.1"}
	pid := os.Getpid()
	for b.Loop() {
		_ = g.Left(pid)
	}
}
