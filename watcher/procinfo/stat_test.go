package procinfo

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/procfs"

	"github.com/poold/poold/watcher/proctest"
)

// readStat must give the fields the Sampler uses exactly as procfs does,
// read from sleeping children (whose fields stay put between the two
// reads; a busy process's state and times move).
func TestReadStatMatchesProcfs(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatalf("test needs the sleep program: %v", err)
	}
	fs, err := procfs.NewFS(procfs.DefaultMountPoint)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, statBufSize)
	for range 3 {
		c := exec.Command(sleep, "3600")
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Process.Kill(); _ = c.Wait() })
		pid := c.Process.Pid
		var want procfs.ProcStat
		deadline := time.Now().Add(60 * time.Second)
		for want.Comm != "sleep" || want.State != "S" {
			if time.Now().After(deadline) {
				t.Fatalf("sleeper %d not asleep after 60s: %+v", pid, want)
			}
			p, err := fs.Proc(pid)
			if err != nil {
				t.Fatal(err)
			}
			if want, err = p.Stat(); err != nil {
				t.Fatal(err)
			}
		}
		got, err := readStat(procfs.DefaultMountPoint, pid, buf)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(pick(want), pick(got)); d != "" {
			t.Errorf("pid %d (-procfs +readStat):\n%s", pid, d)
		}
	}
	pids, err := listPids(procfs.DefaultMountPoint)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(pids, os.Getpid()) {
		t.Errorf("listPids: own pid %d missing from %d pids", os.Getpid(), len(pids))
	}
}

func pick(st procfs.ProcStat) []any {
	return []any{st.PID, st.Comm, st.State, st.PPID, st.UTime, st.STime, st.CUTime, st.CSTime, st.Nice, st.NumThreads, st.Starttime, st.VSize, st.RSS}
}

func TestParseStat(t *testing.T) {
	line := "42 (a (b) c) S 1 42 42 0 -1 4194560 10 0 0 0 7 3 4 6 20 -5 2 0 12345 1019904 136 18446744073709551615\n"
	st, err := parseStat(42, []byte(line))
	if err != nil {
		t.Fatal(err)
	}
	want := []any{42, "a (b) c", "S", 1, uint(7), uint(3), 4, 6, -5, 2, uint64(12345), uint(1019904), 136}
	if d := cmp.Diff(want, pick(st)); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	for _, bad := range []string{"", "42 (x", "42 (x) S 1 2", "42 (x) S one 42 42 0 -1 0 0 0 0 0 7 3 0 0 20 0 1 0 1 1 1"} {
		if _, err := parseStat(42, []byte(bad)); err == nil {
			t.Errorf("parseStat(%q) = nil error", bad)
		}
	}
}

// readCmdline and readRealUID must give what procfs's CmdLine and
// NewStatus give: for this process, for a child whose argv does not fit
// the buffer, and for pid 1 (another owner's, maybe).
func TestIdentityMatchesProcfs(t *testing.T) {
	fs, err := procfs.NewFS(procfs.DefaultMountPoint)
	if err != nil {
		t.Fatal(err)
	}
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatalf("test needs a shell: %v", err)
	}
	// The shell waits for its sleep, keeping its argv: the script, $0 and
	// an argument three buffers long.
	long := exec.Command(sh, "-c", "sleep 3600; :", "sh", strings.Repeat("x", 3*idBufSize))
	// Its own process group, so that the cleanup ends the sleep too: it
	// used to kill only the shell and leave its sleep behind, one per run.
	long.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := long.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-long.Process.Pid, syscall.SIGKILL); _ = long.Wait() })
	// Start returns at the exec's point of no return, before the kernel
	// has put the new program's argv in place: /proc shows an empty one
	// for that moment (seen once in a CI run).
	proctest.Eventually(t, "the shell's argv in /proc", func() bool {
		b, err := os.ReadFile(filepath.Join(procfs.DefaultMountPoint, strconv.Itoa(long.Process.Pid), "cmdline"))
		return err == nil && len(b) > 0
	})
	buf := make([]byte, idBufSize)
	for _, pid := range []int{os.Getpid(), long.Process.Pid, 1} {
		p, err := fs.Proc(pid)
		if err != nil {
			t.Fatal(err)
		}
		status, err := p.NewStatus()
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(procfs.DefaultMountPoint, strconv.Itoa(pid))
		uid, err := readRealUID(filepath.Join(dir, "status"), buf)
		if err != nil || uid != status.UIDs[0] {
			t.Errorf("pid %d: real uid %d, %v; procfs says %d", pid, uid, err, status.UIDs[0])
		}
		// A sleeper's argv stays put; this process's and pid 1's may not
		// be readable the same way twice, but they are not rewritten here.
		want, err := p.CmdLine()
		if err != nil {
			t.Fatal(err)
		}
		got, err := readCmdline(filepath.Join(dir, "cmdline"), buf)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("pid %d argv (-procfs +readCmdline):\n%s", pid, d)
		}
		if pid == long.Process.Pid && len(strings.Join(got, " ")) < 3*idBufSize {
			t.Errorf("pid %d: argv %.40q...: want the long one", pid, got)
		}
	}
	if _, err := readRealUID(filepath.Join(t.TempDir(), "status"), buf); err == nil {
		t.Error("readRealUID of a missing file: no error")
	}
	noUid := filepath.Join(t.TempDir(), "status")
	if err := os.WriteFile(noUid, []byte("Name:\tx\nGid:\t0\t0\t0\t0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readRealUID(noUid, buf); !errors.Is(err, errNoUid) {
		t.Errorf("readRealUID of a status without Uid: %v, want errNoUid", err)
	}
}

// TestListPidsOfAFakeRoot: listPids gives the numeric entries of a
// directory and nothing else, over as many getdents calls as it takes
// (5,000 entries do not fit in one buffer).
func TestListPidsOfAFakeRoot(t *testing.T) {
	root := t.TempDir()
	var want []int
	for i := 1; i <= 5000; i++ {
		want = append(want, i*7)
		if err := os.Mkdir(filepath.Join(root, strconv.Itoa(i*7)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"self", "thread-self", "sys", "12a", "a12", "1-2", "99999999999999999999999"} {
		if err := os.WriteFile(filepath.Join(root, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := listPids(root)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("listPids: %d pids, want %d (first %v)", len(got), len(want), got[:min(len(got), 5)])
	}
	if _, err := listPids(filepath.Join(root, "missing")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("listPids of a missing root: error %v, want one naming the path", err)
	}
}
