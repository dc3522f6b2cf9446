package arbiter

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/configs"
)

// TestWorkerThatDaemonizesIsToldSo: a program that daemonizes (forks, the
// parent exits 0) is, to poold, a worker that exits at once; poold kills
// what it left in its cgroup, and the slot flapped with "exited with
// status 0", nothing saying why a program that runs fine from a shell
// dies here. The exit reason now says it left processes, that poold
// killed them, and that a worker must stay in the foreground.
func TestWorkerThatDaemonizesIsToldSo(t *testing.T) {
	w := configs.DefaultWatcher("nginxish")
	w.Cmd, w.Args = "/bin/sh", []string{"-c", "sleep 1000 & exit 0"}
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{})
	needCgroups(t, h)
	ev := h.next("reap", nil)
	why := fmt.Sprint(ev.Fields["exit_reason"])
	for _, want := range []string{"exited with status 0", "leaving 1 process(es) running, which poold killed", "stay in the foreground"} {
		if !strings.Contains(why, want) {
			t.Errorf("exit_reason %q lacks %q", why, want)
		}
	}
	if ev.Fields["reason"] != "exit" {
		t.Errorf("reason %v, want exit", ev.Fields["reason"])
	}
}

// TestKilledMasterIsNotSaidToDaemonize: a master killed by a signal (a
// kill -9 of gunicorn's master, an OOM kill) leaves its workers behind,
// which poold stops; that is no sign of a program that daemonizes, and
// the exit reason used to tell the user to keep it in the foreground.
func TestKilledMasterIsNotSaidToDaemonize(t *testing.T) {
	w := configs.DefaultWatcher("master")
	w.Cmd, w.Args = "/bin/sh", []string{"-c", "sleep 1000 & kill -9 $$"}
	w.GracefulTimeout = 100 * time.Millisecond // what it left ignores nothing: SIGTERM ends it
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{})
	needCgroups(t, h)
	ev := h.next("reap", nil)
	why := fmt.Sprint(ev.Fields["exit_reason"])
	if !strings.Contains(why, "killed by signal KILL, leaving 1 process(es) running, which poold sent TERM") {
		t.Errorf("exit_reason %q, want the signal and the process left", why)
	}
	if strings.Contains(why, "foreground") {
		t.Errorf("exit_reason %q blames daemonizing for a worker killed by a signal", why)
	}
}

// needCgroups skips a test that needs a cgroup per worker (what a worker
// left is seen only there) where poold has none; under CI it fails.
func needCgroups(t *testing.T, h *harness) {
	t.Helper()
	if c := fmt.Sprint(h.do("globaloptions", nil)["options"].(map[string]any)["containment"]); !strings.HasPrefix(c, "cgroup") {
		if os.Getenv("CI") == "true" {
			t.Fatalf("containment %q: CI runs as root with cgroup2 mounted", c)
		}
		t.Skipf("containment %q: what a worker left is seen only in its cgroup", c)
	}
}
