package arbiter

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher/proctest"
)

func TestWorkersShareOneSocket(t *testing.T) {
	const n = 4
	w := testWatcher("web", "serve", n)
	w.Sockets = []string{"web"}
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{w}}, Options{})
	spawned := h.spawns(n)
	wids := map[int]bool{}
	for _, wid := range spawned {
		wids[wid] = true
	}
	for wid := 1; wid <= n; wid++ {
		if !wids[wid] {
			t.Fatalf("wids %v: want 1..%d", spawned, n)
		}
	}
	addr := h.socketAddr("web")

	// Keep many concurrent clients busy until every worker has answered.
	var mu sync.Mutex
	seen := map[string]bool{}
	proctest.Eventually(t, "all workers answer on the shared socket", func() bool {
		var wg sync.WaitGroup
		for i := 0; i < 16; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				body, err := get(addr, "/")
				if err != nil {
					t.Errorf("request failed: %v", err)
					return
				}
				mu.Lock()
				seen[strings.TrimSpace(body)] = true
				mu.Unlock()
			}()
		}
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == n
	})
	for pid, wid := range spawned {
		if !seen[fmt.Sprintf("pid=%d wid=%d", pid, wid)] {
			t.Errorf("worker pid %d wid %d never answered; answers: %v", pid, wid, seen)
		}
	}
}

func TestKilledWorkerIsReplacedWithSameWid(t *testing.T) {
	w := testWatcher("web", "serve", 3)
	w.Sockets = []string{"web"}
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{w}}, Options{})
	spawned := h.spawns(3)
	var victim, wid int
	for pid, id := range spawned {
		if id == 2 {
			victim, wid = pid, id
		}
	}
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	reap := h.next("reap", func(ev events.Event) bool { return ev.Fields["process_pid"] == victim })
	if code := reap.Fields["exit_code"]; code != -int(syscall.SIGKILL) {
		t.Errorf("reap exit_code = %v, want -9", code)
	}
	spawn := h.next("spawn", nil)
	if spawn.Fields["process_id"] != wid || spawn.Fields["process_pid"] == victim {
		t.Errorf("replacement %v, want a new pid with wid %d", spawn.Fields, wid)
	}
	if spawn.Seq <= reap.Seq {
		t.Errorf("spawn seq %d not after reap seq %d", spawn.Seq, reap.Seq)
	}
	// And it serves.
	addr := h.socketAddr("web")
	want := fmt.Sprintf("pid=%d wid=%d", spawn.Fields["process_pid"], wid)
	proctest.Eventually(t, "replacement answers", func() bool {
		body, _ := get(addr, "/")
		return strings.TrimSpace(body) == want
	})
}

func TestCrashingWorkerBacksOff(t *testing.T) {
	w := testWatcher("crashy", "crash", 1)
	w.BackoffMin = 5 * time.Millisecond
	w.BackoffMax = 40 * time.Millisecond
	w.BackoffReset = time.Hour
	w.FlappingAttempts = 0 // backoff alone; flapping has its own tests
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{})
	var delays []float64
	for len(delays) < 6 {
		ev := h.next("backoff", nil)
		if ev.Fields["process_id"] != 1 {
			t.Fatalf("backoff for wid %v", ev.Fields["process_id"])
		}
		delays = append(delays, ev.Fields["delay"].(float64))
	}
	// The policy doubles from the minimum to the cap, plus up to 10 % jitter.
	want := []float64{0.005, 0.010, 0.020, 0.040, 0.040, 0.040}
	for i, d := range delays {
		if d < want[i] || d > want[i]*1.1+1e-9 {
			t.Errorf("delay %d = %.4fs, want %.3fs (+10%% jitter); all: %v", i, d, want[i], delays)
		}
	}
	if !strings.Contains(h.log.String(), "crashing on purpose") {
		t.Errorf("worker output not logged")
	}
}

func TestWorkerInheritsOnlyItsSockets(t *testing.T) {
	dir := t.TempDir()
	w := configs.DefaultWatcher("fds")
	w.Cmd = "/bin/sh"
	// ls lists its own fds: it inherits the worker's, plus the directory it reads.
	w.Args = []string{"-c", `ls -l /proc/self/fd > "$OUT/fds.tmp" && mv "$OUT/fds.tmp" "$OUT/fds"; exec sleep 3600`}
	w.Env = []string{"OUT=" + dir}
	w.Sockets = []string{"b"}
	w.GracefulTimeout = time.Second
	cfg := &configs.Config{Sockets: []configs.Socket{tcpSocket("a"), tcpSocket("b")}, Watchers: []configs.Watcher{w}}
	// An fd poold inherited without close-on-exec must not leak either.
	r, wr, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer wr.Close()
	if _, _, e := syscall.Syscall(syscall.SYS_FCNTL, wr.Fd(), syscall.F_SETFD, 0); e != 0 {
		t.Fatal(e)
	}
	start(t, cfg, Options{})
	var out string
	proctest.Eventually(t, "worker wrote its fd list", func() bool {
		b, err := os.ReadFile(filepath.Join(dir, "fds"))
		out = string(b)
		return err == nil
	})
	fds := map[int]string{}
	for _, line := range scanLines(out) {
		f := strings.Fields(line)
		if len(f) < 11 || f[9] != "->" {
			continue
		}
		fd, _ := strconv.Atoi(f[8])
		fds[fd] = f[10]
	}
	if len(fds) != 5 {
		t.Fatalf("worker fds: want 0,1,2, the socket and ls's own directory; got\n%s", out)
	}
	if !strings.HasPrefix(fds[3], "socket:") {
		t.Errorf("fd 3 = %q, want the socket", fds[3])
	}
	if !strings.HasSuffix(fds[4], "/fd") {
		t.Errorf("fd 4 = %q, want ls's own /proc/.../fd", fds[4])
	}
}

func TestStopKillsWholeGroupAfterGrace(t *testing.T) {
	fam := testWatcher("family", "family", 1)
	fam.Sockets = []string{"s"}
	stub := testWatcher("stubborn", "stubborn", 1)
	stub.Sockets = []string{"t"}
	stub.GracefulTimeout = 200 * time.Millisecond
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("s"), tcpSocket("t")}, Watchers: []configs.Watcher{fam, stub}}, Options{})
	pids := h.spawns(2)
	addr := h.socketAddr("s")
	proctest.Eventually(t, "stubborn worker serves (and so ignores SIGTERM)", func() bool {
		_, err := get(h.socketAddr("t"), "/")
		return err == nil
	})
	var child int
	proctest.Eventually(t, "family worker reports its child", func() bool {
		body, err := get(addr, "/child")
		child, _ = strconv.Atoi(strings.TrimSpace(body))
		return err == nil && child > 0
	})
	h.do("stop", map[string]any{"waiting": true})
	for pid := range pids {
		if proctest.Alive(pid) {
			t.Errorf("worker %d still alive after stop", pid)
		}
	}
	proctest.Eventually(t, "grandchild gone", func() bool { return !proctest.Alive(child) })
	if !strings.Contains(h.log.String(), "stop not over within graceful_timeout") {
		t.Errorf("stubborn worker was not killed at its deadline")
	}
	if st := h.do("status", map[string]any{"name": "stubborn"})["status"]; st != "stopped" {
		t.Errorf("status = %v", st)
	}
}

func TestPriorityOrdersStartAndStop(t *testing.T) {
	var ws []configs.Watcher
	for _, name := range []string{"low", "high", "mid"} {
		w := testWatcher(name, "sleep", 1)
		w.Priority = map[string]int{"low": 1, "mid": 5, "high": 9}[name]
		ws = append(ws, w)
	}
	h := start(t, &configs.Config{Watchers: ws}, Options{})
	var order []string
	for len(order) < 3 {
		order = append(order, h.next("spawn", nil).Watcher)
	}
	if strings.Join(order, ",") != "high,mid,low" {
		t.Errorf("start order %v, want high,mid,low", order)
	}
	h.do("stop", map[string]any{"waiting": true})
	order = nil
	for len(order) < 3 {
		order = append(order, h.next("stop", nil).Watcher)
	}
	if strings.Join(order, ",") != "low,mid,high" {
		t.Errorf("stop order %v, want low,mid,high", order)
	}
}

// TestExecStepsApplyUmaskRlimitsAndListenPid covers a worker exec'd
// through an exec step (umask, LISTEN_PID), one whose rlimits are set
// before its exec (by poold while the stub waits, or by the shim), and
// one exec'd directly.
func TestExecStepsApplyUmaskRlimitsAndListenPid(t *testing.T) {
	report := `echo "pid=$$ listen_pid=${LISTEN_PID:-none} umask=$(umask) nofile=$(ulimit -n)"; exec sleep 3600`
	mk := func(name string, edit func(*configs.Watcher)) configs.Watcher {
		w := configs.DefaultWatcher(name)
		w.Cmd = "/bin/sh"
		w.Args = []string{"-c", report}
		w.GracefulTimeout = time.Second
		edit(&w)
		return w
	}
	ws := []configs.Watcher{
		mk("shell", func(w *configs.Watcher) { w.Umask = 0o027; w.Sockets = []string{"s"} }),
		mk("shim", func(w *configs.Watcher) {
			w.Umask = 0o077
			w.Rlimits = map[string]uint64{"nofile": 777}
			w.Sockets = []string{"s"}
		}),
		mk("direct", func(w *configs.Watcher) {}),
	}
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("s")}, Watchers: ws}, Options{})
	pids := map[string]int{}
	for len(pids) < 3 {
		ev := h.next("spawn", nil)
		pids[ev.Watcher] = ev.Fields["process_pid"].(int)
	}
	want := map[string]string{
		"shell":  fmt.Sprintf("pid=%d listen_pid=%d umask=0027", pids["shell"], pids["shell"]),
		"shim":   fmt.Sprintf("pid=%d listen_pid=%d umask=0077 nofile=777", pids["shim"], pids["shim"]),
		"direct": fmt.Sprintf("pid=%d listen_pid=none", pids["direct"]),
	}
	for name, w := range want {
		proctest.Eventually(t, name+" reports "+w, func() bool { return strings.Contains(h.log.String(), w) })
	}
}

func TestLongOutputLinesAreLoggedWhole(t *testing.T) {
	w := configs.DefaultWatcher("talker")
	w.Cmd = "/bin/sh"
	// One 10000-character line, then one of 100000 (split at 64 KiB), then a short one.
	w.Args = []string{"-c", `head -c 10000 /dev/zero | tr '\0' a; echo; head -c 100000 /dev/zero | tr '\0' b; echo; echo done; exec sleep 3600`}
	w.GracefulTimeout = time.Second
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{})
	proctest.Eventually(t, "last line logged", func() bool { return strings.Contains(h.log.String(), "done") })
	logged := h.log.String()
	if !strings.Contains(logged, strings.Repeat("a", 10000)+":") {
		t.Errorf("the 10000-character line was not logged in one piece")
	}
	if !strings.Contains(logged, strings.Repeat("b", 64*1024)) || strings.Contains(logged, strings.Repeat("b", 64*1024+1)) {
		t.Errorf("the 100000-character line was not split at 64 KiB")
	}
}
