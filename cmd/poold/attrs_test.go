package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/poold/poold/watcher/proctest"
)

const attrsConfig = `
[arbiter]
ENDPOINTS

[sockets.web]
port = 0

# Runs as nobody: nobody's groups from the group database, not poold's.
[watchers.plain]
cmd = %[1]q
args = ["3600"]
uid = "nobody"
nice = 7
oom_score_adj = 600

# Privileged values, applied before the drop to nobody (as systemd does).
[watchers.favoured]
cmd = %[1]q
args = ["3600"]
uid = "nobody"
gid = "daemon"
nice = -3
oom_score_adj = %[3]d

# A static worker alone in a directory, serving the shared socket
# (LISTEN_PID, so through the exec shim).
[watchers.jailed]
cmd = "/bin/worker"
chroot = %[2]q
sockets = ["web"]
uid = "nobody"

# chroot alone: straight through the fork.
[watchers.jailedsleep]
cmd = "/bin/worker"
args = ["--listen", "127.0.0.1:0"]
chroot = %[2]q
`

// Issue 11: nice, oom_score_adj, chroot and supplementary groups, read
// back from /proc of real workers of the real binary.
func TestProcessAttributes(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: workers run as nobody, chroot and a negative nice")
	}
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	root := jail(t)
	// poold with supplementary groups a worker must not keep.
	extra := func(a *syscall.SysProcAttr) {
		a.Credential = &syscall.Credential{Uid: 0, Gid: 0, Groups: []uint32{0, 4, 27, 4242}}
	}
	// Below 0 when poold may (CAP_SYS_RESOURCE; this CI box's root lacks
	// it), else at least above the default.
	low := -100
	if !capable(t, 24) {
		low = 300
	}
	p := startBinaryWith(t, fmt.Sprintf(attrsConfig, sleep, root, low), extra)
	pid := p.cmd.Process.Pid
	if g := procStatus(t, pid, "Groups"); g != "0 4 27 4242" {
		t.Fatalf("poold's own Groups = %q; the test needs it to have supplementary groups", g)
	}
	var workers map[string]int
	proctest.Eventually(t, "a worker of each watcher", func() bool {
		workers = workersByWatcher(pid)
		return len(workers) == 4
	})
	nogroup, daemon := groupID(t, "nogroup"), groupID(t, "daemon")
	for _, c := range []struct {
		watcher, uid, gid, groups string
		nice, oom                 int
		root                      string
	}{
		{"plain", "65534", nogroup, nogroup, 7, 600, "/"},
		{"favoured", "65534", daemon, daemon, -3, low, "/"},
		{"jailed", "65534", nogroup, nogroup, 0, 0, root},
		{"jailedsleep", "0", "0", "0 4 27 4242", 0, 0, root},
	} {
		w := workers[c.watcher]
		if got := strings.Fields(procStatus(t, w, "Uid"))[0]; got != c.uid {
			t.Errorf("%s (pid %d): uid %s, want %s", c.watcher, w, got, c.uid)
		}
		if got := strings.Fields(procStatus(t, w, "Gid"))[0]; got != c.gid {
			t.Errorf("%s (pid %d): gid %s, want %s", c.watcher, w, got, c.gid)
		}
		if got := procStatus(t, w, "Groups"); got != c.groups {
			t.Errorf("%s (pid %d): supplementary groups %q, want %q", c.watcher, w, got, c.groups)
		}
		if got := niceOf(t, w); got != c.nice {
			t.Errorf("%s (pid %d): nice %d, want %d", c.watcher, w, got, c.nice)
		}
		if got := oomScoreAdj(t, w); got != c.oom {
			t.Errorf("%s (pid %d): oom_score_adj %d, want %d", c.watcher, w, got, c.oom)
		}
		if got, _ := os.Readlink(fmt.Sprintf("/proc/%d/root", w)); got != c.root {
			t.Errorf("%s (pid %d): root %q, want %q", c.watcher, w, got, c.root)
		}
	}
	// The jailed worker serves the shared socket from inside its chroot.
	addr := p.waitLogBin(t, `socket bound: socket=web address=(\S+)`)
	proctest.Eventually(t, "the jailed worker answers", func() bool {
		body, err := get("http://" + addr + "/")
		return err == nil && strings.Contains(body, fmt.Sprintf("pid %d", workers["jailed"]))
	})
}

// jail is a directory holding a static exampleworker at /bin/worker,
// searchable by nobody.
func jail(t *testing.T) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "jail")
	if err := os.MkdirAll(filepath.Join(root, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(root, 0o755)
	b, err := os.ReadFile(exampleWorker(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := writeProgram(filepath.Join(root, "bin", "worker"), b); err != nil {
		t.Fatal(err)
	}
	return root
}

// workersByWatcher maps each watcher (POOLD_WATCHER) to one worker of
// poold's.
func workersByWatcher(pid int) map[string]int {
	out := map[string]int{}
	for _, c := range childrenOf(pid) {
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", c))
		if err != nil {
			continue
		}
		for _, kv := range strings.Split(string(env), "\x00") {
			if name, ok := strings.CutPrefix(kv, "POOLD_WATCHER="); ok {
				// Only once the worker's own program runs (not the shim).
				if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", c)); !strings.Contains(exe, "poold") {
					out[name] = c
				}
			}
		}
	}
	return out
}

func procStatus(t *testing.T, pid int, key string) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, key+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("/proc/%d/status has no %s", pid, key)
	return ""
}

// niceOf reads field 19 of /proc/PID/stat.
func niceOf(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	rest := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	n, err := strconv.Atoi(rest[19-3])
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func oomScoreAdj(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/oom_score_adj", pid))
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

func groupID(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command("getent", "group", name).Output()
	if err != nil {
		t.Fatalf("getent group %s: %v", name, err)
	}
	return strings.Split(string(out), ":")[2]
}

// capable reports whether the test has capability bit c.
func capable(t *testing.T, c uint) bool {
	mask, err := strconv.ParseUint(procStatus(t, os.Getpid(), "CapEff"), 16, 64)
	if err != nil {
		t.Fatal(err)
	}
	return mask&(1<<c) != 0
}
