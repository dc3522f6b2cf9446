package arbiter

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/poold/poold/configs"
)

// fdKinds counts this process's open fds by what they are: "pipe",
// "pidfd", "cgroup" (a directory under /sys/fs/cgroup) or "other".
func fdKinds(t testing.TB) map[string]int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, e := range ents {
		link, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		switch {
		case err != nil:
			// The fd ReadDir itself used, closed since.
		case strings.HasPrefix(link, "pipe:"):
			out["pipe"]++
		case link == "anon_inode:[pidfd]":
			out["pidfd"]++
		case strings.HasPrefix(link, "/sys/fs/cgroup"):
			out["cgroup"]++
		default:
			out["other"]++
		}
	}
	return out
}

// needContainment fails under CI=true, and skips elsewhere, unless the
// arbiter put its workers in cgroups.
func needContainment(t *testing.T, h *harness) {
	t.Helper()
	r := h.do("status", map[string]any{"name": "web"})
	if strings.HasPrefix(fmt.Sprint(r["containment"]), "cgroup ") {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("no cgroups (%v); CI runs as root with cgroup2 mounted", r["containment"])
	}
	t.Skipf("no cgroups here: %v", r["containment"])
}

// At 10,000 workers every fd poold keeps per worker is 10,000 fds against
// RLIMIT_NOFILE. A worker's cgroup directory is needed only for the clone
// that enters it; a worker whose output nothing keeps (stdout_log and
// stderr_log "none", log_ring 0) needs no pipes: it writes to /dev/null.
// Exits come to the spawner's thread (no pidfd). Then a running worker
// costs poold no fd at all.
func TestPooldHoldsNoFdPerWorker(t *testing.T) {
	const n = 20
	for _, tc := range []struct {
		name        string
		discard     bool
		pipesPerWkr int
	}{
		{"output kept", false, 2},
		{"output discarded", true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := fdKinds(t)
			w := testWatcher("web", "serve", n)
			w.Sockets = []string{"web"}
			if tc.discard {
				w.Logs.Stdout, w.Logs.Stderr, w.Logs.Ring = configs.LogToNone, configs.LogToNone, 0
			}
			h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{w}}, Options{})
			// Counted once every worker is ready: until then readiness
			// reads /proc for each new worker, with fds of its own open.
			pids := spawnedReady(t, h, "web", n)
			needContainment(t, h)
			after := fdKinds(t)
			if d := after["cgroup"] - before["cgroup"]; d > 1 { // the tree's own lock
				t.Errorf("poold holds %d more cgroup fds with %d workers running, want at most 1 (the tree): %v", d, n, after)
			}
			if d := after["pipe"] - before["pipe"]; d != n*tc.pipesPerWkr {
				t.Errorf("poold holds %d more pipes with %d workers running, want %d: %v", d, n, n*tc.pipesPerWkr, after)
			}
			if d := after["pidfd"] - before["pidfd"]; d != 0 {
				t.Errorf("poold holds %d more pidfds with %d workers running, want none", d, n)
			}
			// The rest is poold's own (its socket, control and event
			// endpoints), the same for 1 worker or 10,000.
			if d := after["other"] - before["other"]; d >= n/2 {
				t.Errorf("poold holds %d more fds of other kinds with %d workers running, want fewer than %d (none per worker): %v",
					d, n, n/2, after)
			}
			if !tc.discard {
				return
			}
			for pid := range pids {
				for _, fd := range []string{"1", "2"} {
					link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd))
					if err != nil {
						t.Fatalf("worker %d fd %s: %v", pid, fd, err)
					}
					if link != os.DevNull {
						t.Errorf("worker %d fd %s is %s, want %s", pid, fd, link, os.DevNull)
					}
				}
			}
		})
	}
}

// A spawn that runs out of fds says whose limit it is, what a worker costs
// and how to raise it; other errors pass unchanged. A worker with a log
// file of its own ($(pool.wid) in the path) costs that fd too: with
// `ulimit -n 64`, 100 workers and stdout_log = "/var/log/app.$(pool.wid).log",
// the error said 2 fds a worker where each held 3.
func TestSpawnOutOfFdsSaysWhatToRaise(t *testing.T) {
	emfile := &os.SyscallError{Syscall: "pipe2", Err: syscall.EMFILE}
	perWid := "/var/log/app.$(pool.wid).log"
	for _, c := range []struct {
		logs configs.WorkerLogs
		cost string
	}{
		{configs.WorkerLogs{Stdout: configs.LogToStderr, Stderr: configs.LogToStderr}, "holds 2 fds"},
		{configs.WorkerLogs{Stdout: configs.LogToNone, Stderr: configs.LogToNone}, "no fd once started"},
		{configs.WorkerLogs{Stdout: perWid, Stderr: "/var/log/app.err.log"}, "holds 3 fds"},
		{configs.WorkerLogs{Stdout: perWid, Stderr: perWid}, "holds 3 fds"},
		{configs.WorkerLogs{Stdout: configs.LogToNone, Stderr: perWid}, "holds 3 fds"},
		{configs.WorkerLogs{Stdout: perWid, Stderr: "/var/log/app.err.$(pool.wid).log"}, "holds 4 fds"},
	} {
		err := explainNofile(fmt.Errorf("start /bin/x: %w", emfile), c.logs, nil)
		if !errors.Is(err, syscall.EMFILE) {
			t.Fatalf("%+v: %v no longer wraps EMFILE", c.logs, err)
		}
		for _, want := range []string{"RLIMIT_NOFILE", "ulimit -n", "LimitNOFILE", "output", c.cost} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%+v: %q does not say %q", c.logs, err, want)
			}
		}
	}
	other := errors.New("exec format error")
	if got := explainNofile(other, configs.WorkerLogs{Stdout: configs.LogToStderr}, nil); got != other {
		t.Errorf("other error changed: %v", got)
	}
}

// When control connections hold a good share of poold's fds, the error
// says how many and whose, and not to raise the limit: on a host where
// a local user held 20,000 of them, the advice to raise ulimit -n was
// wrong (and would only have let it hold more).
func TestSpawnOutOfFdsNamesControlConnections(t *testing.T) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	emfile := &os.SyscallError{Syscall: "pipe2", Err: syscall.EMFILE}
	logs := configs.WorkerLogs{Stdout: configs.LogToStderr, Stderr: configs.LogToStderr}
	many := func() (int, string) { return int(rl.Cur / 4), "uid:1002 " + strconv.FormatUint(rl.Cur/4, 10) }
	err := explainNofile(fmt.Errorf("start /bin/x: %w", emfile), logs, many)
	if !errors.Is(err, syscall.EMFILE) {
		t.Fatalf("%v no longer wraps EMFILE", err)
	}
	for _, want := range []string{"by connections to its listeners (uid:1002 ", "ss -xp", "holds 2 fds"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "ulimit -n") {
		t.Errorf("%q advises raising the limit, which lets the holder take more", err)
	}
	few := func() (int, string) { return 2, "uid:0 2" }
	if err := explainNofile(fmt.Errorf("start /bin/x: %w", emfile), logs, few); strings.Contains(err.Error(), "connections to its listeners") {
		t.Errorf("two control connections named as the cause: %q", err)
	}
}
