package arbiter

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher/proctest"
)

// containments runs a test with a cgroup per worker and with process
// groups only.
var containments = []struct {
	name string
	opts Options
}{
	{"cgroup", Options{}},
	{"process group", Options{NoCgroups: true}},
}

// wrapperScript writes a worker that is a shell running app (sh code,
// given $1 = dir) without exec, as `bash run.sh` or `npm start` do, so
// that a stop's SIGTERM ends the shell at once while app is still busy.
func wrapperScript(t *testing.T, app string) (dir string, w configs.Watcher) {
	t.Helper()
	dir = t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "app.sh"), []byte(app), 0o644); err != nil {
		t.Fatal(err)
	}
	w = configs.DefaultWatcher("wrapped")
	w.Cmd, w.Args = "/bin/sh", []string{"-c", `/bin/sh "$0/app.sh" "$0"; echo wrapper done`, dir}
	w.GracefulTimeout = 30 * time.Second
	return dir, w
}

// readPid waits for dir/name, a pid the app wrote, and returns it.
func readPid(t *testing.T, dir, name string) int {
	t.Helper()
	var pid int
	proctest.Eventually(t, "the app to write its pid to "+name, func() bool {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || !strings.HasSuffix(string(b), "\n") {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	})
	return pid
}

// TestStopGivesWhatTheWorkerStartedItsGracefulTimeout: a stop sends
// SIGTERM to the worker's process group; a shell that runs the app
// without exec dies of it at once, and poold killed the app, busy
// finishing its requests, the moment the shell was gone (with a cgroup:
// cgroup.kill at the shell's end), so a graceful_timeout of 30 s gave a
// `bash run.sh` app none at all. Like systemd's KillMode=control-group,
// what the worker started gets the rest of graceful_timeout, and the
// stop is over once it has finished. With stop_children off only the
// shell has the signal: what it leaves gets it at its end (it waited for
// graceful_timeout, then SIGKILL, without a signal).
func TestStopGivesWhatTheWorkerStartedItsGracefulTimeout(t *testing.T) {
	for _, c := range containments {
		for _, children := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/stop_children=%t", c.name, children), func(t *testing.T) {
				stopDrainingApp(t, c.opts, children)
			})
		}
	}
}

func stopDrainingApp(t *testing.T, opts Options, children bool) {
	dir, w := wrapperScript(t, `trap 'echo draining > "$1/state"; sleep 0.5; echo clean > "$1/state"; exit 0' TERM
echo $$ > "$1/app.pid"
while :; do sleep 1 & wait $!; done
`)
	w.StopChildren = children
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, opts)
	if !opts.NoCgroups {
		needCgroups(t, h)
	}
	app := readPid(t, dir, "app.pid")
	h.do("stop", map[string]any{"name": "wrapped", "waiting": true})
	b, _ := os.ReadFile(filepath.Join(dir, "state"))
	if got := strings.TrimSpace(string(b)); got != "clean" {
		t.Errorf("after the stop the app's state is %q, want clean: it was killed before it finished (graceful_timeout 30s)", got)
	}
	if proctest.Alive(app) {
		t.Errorf("app pid %d still runs after the stop", app)
	}
}

// TestStopKillsWhatTheWorkerLeftAtGracefulTimeout: what a stopped worker
// leaves gets graceful_timeout, not more: a child that ignores SIGTERM is
// SIGKILLed at the deadline, and the stop waits for that. Without
// cgroups poold forgot the worker's process group once the worker was
// reaped, and such a child ran on after the stop, and after poold.
func TestStopKillsWhatTheWorkerLeftAtGracefulTimeout(t *testing.T) {
	for _, c := range containments {
		t.Run(c.name, func(t *testing.T) {
			app, ev := stopWrappedApp(t, c.opts, `trap '' TERM
echo $$ > "$1/app.pid"
while :; do sleep 1 & wait $!; done
`)
			if proctest.Alive(app) {
				t.Errorf("app pid %d, which ignores SIGTERM, still runs after the stop (graceful_timeout 300ms)", app)
			}
			// The app and, at times, the sleep it waits for.
			want := regexp.MustCompile(`^killed by signal TERM, leaving [12] process\(es\) running, which poold killed after graceful_timeout \(300ms\)$`)
			if why := fmt.Sprint(ev.Fields["exit_reason"]); !want.MatchString(why) || ev.Fields["reason"] != "graceful_timeout" {
				t.Errorf("exit %v: %q, want graceful_timeout: %v", ev.Fields["reason"], why, want)
			}
		})
	}
}

// stopWrappedApp runs app (wrapperScript; it writes the pid of a process
// that ignores SIGTERM to $1/app.pid) with a graceful_timeout of 300ms,
// stops it and returns that pid and the worker's exit event.
func stopWrappedApp(t *testing.T, opts Options, app string) (int, events.Event) {
	t.Helper()
	dir, w := wrapperScript(t, app)
	w.GracefulTimeout = 300 * time.Millisecond
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, opts)
	if !opts.NoCgroups {
		needCgroups(t, h)
	}
	pid := readPid(t, dir, "app.pid")
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	h.do("stop", map[string]any{"name": "wrapped", "waiting": true})
	return pid, h.next("exit", func(e events.Event) bool { return e.Watcher == "wrapped" })
}

// TestStopCountsOnlyWhatPooldKilled: the exit reason of a stop that ran
// to graceful_timeout counts what poold killed at the deadline. It
// counted the worker's processes at the worker's reap, when siblings
// dying of the same SIGTERM could still be listed: "leaving 4" for the
// one process that outlived the signal. A child that blocks SIGTERM holds
// it pending to the end, and is killed like one that ignores it.
func TestStopCountsOnlyWhatPooldKilled(t *testing.T) {
	for _, app := range []struct{ name, script string }{
		{"siblings die of SIGTERM", `sleep 1000 & sleep 1000 & sleep 1000 &
/bin/sh -c 'trap "" TERM; echo $$ > "$0/app.pid"; exec sleep 1001' "$1" &
wait
`},
		{"a child blocks SIGTERM", `sleep 1000 &
python3 -c '
import os, signal, sys
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
open(sys.argv[1] + "/app.pid", "w").write("%d\n" % os.getpid())
while True: signal.pause()
' "$1" &
wait
`},
	} {
		for _, c := range containments {
			t.Run(app.name+"/"+c.name, func(t *testing.T) {
				_, ev := stopWrappedApp(t, c.opts, app.script)
				want := "killed by signal TERM, leaving 1 process(es) running, which poold killed after graceful_timeout (300ms)"
				if why := fmt.Sprint(ev.Fields["exit_reason"]); why != want {
					t.Errorf("exit_reason %q, want %q: one process outlived the stop signal", why, want)
				}
			})
		}
	}
}

// TestWorkerWithoutCgroupLeavesNothingRunning: a worker that ended on its
// own left a child in its process group, which poold never killed
// without cgroups: one more stray per restart, holding the worker's
// sockets and pipes, and still running after poold stopped. It is killed
// as with a cgroup, and the exit reason says so.
func TestWorkerWithoutCgroupLeavesNothingRunning(t *testing.T) {
	dir := t.TempDir()
	w := configs.DefaultWatcher("leaver")
	w.Cmd, w.Args = "/bin/sh", []string{"-c", `sleep 1000 & echo $! > "$0/child.pid"; exit 0`, dir}
	w.Respawn = false
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{NoCgroups: true})
	ev := h.next("reap", func(e events.Event) bool { return e.Watcher == "leaver" })
	child := readPid(t, dir, "child.pid")
	t.Cleanup(func() { _ = syscall.Kill(child, syscall.SIGKILL) })
	if proctest.Alive(child) {
		t.Errorf("the worker's child pid %d still runs after the worker's reap", child)
	}
	why := fmt.Sprint(ev.Fields["exit_reason"])
	if !strings.Contains(why, "leaving 1 process(es) running, which poold killed") {
		t.Errorf("exit_reason %q does not say what the worker left", why)
	}
}
