package arbiter

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/proctest"
)

// TestStopChildrenOffSignalsTheWorkerAlone: with stop_children = false a
// stop's signal goes to the worker alone, which stops its own children
// (a gunicorn master). poold signalled the whole process group, so each
// child got the stop signal twice, from poold and from its master, and
// gunicorn's master logged every one of its workers as "terminated due
// to signal 15" while it was handling its own SIGTERM; at times the two
// log writes collided and the master hung until graceful_timeout.
func TestStopChildrenOffSignalsTheWorkerAlone(t *testing.T) {
	for _, c := range containments {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			w := masterWatcher(t, dir,
				`trap 'echo master-term >> "$0/log"; kill -USR1 $c; while kill -0 $c 2>/dev/null; do wait $c; done; exit 0' TERM`,
				`trap 'echo child-term >> "$1/log"' TERM
trap 'echo child-usr1 >> "$1/log"; kill $(jobs -p) 2>/dev/null; exit 0' USR1`)
			w.GracefulTimeout = 5 * time.Second
			h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, c.opts)
			if !c.opts.NoCgroups {
				needCgroups(t, h)
			}
			pid := readPid(t, dir, "child.pid")
			readPid(t, dir, "master.pid") // it knows its child's pid
			t.Cleanup(func() {
				_ = syscall.Kill(pid, syscall.SIGKILL)
				if t.Failed() {
					b, _ := os.ReadFile(filepath.Join(dir, "log"))
					t.Logf("signals seen:\n%s", b)
				}
			})
			h.do("stop", map[string]any{"name": "master", "waiting": true})
			b, _ := os.ReadFile(filepath.Join(dir, "log"))
			if got, want := string(b), "master-term\nchild-usr1\n"; got != want {
				t.Errorf("signals seen:\n%s\nwant:\n%s(the stop signal to the master alone, which stops its child)", got, want)
			}
			if proctest.Alive(pid) {
				t.Errorf("child pid %d still runs after the stop", pid)
			}
		})
	}
}

// TestStopChildrenOffResumesTheWholeGroup: a worker suspended with its
// children (kill -STOP of its process group, a debugger, job control)
// and stopped with stop_children = false got SIGCONT, after the stop
// signal, to itself alone: it passed the signal on to a child that stayed
// suspended, and the stop sat out graceful_timeout to end in SIGKILL.
func TestStopChildrenOffResumesTheWholeGroup(t *testing.T) {
	dir := t.TempDir()
	w := masterWatcher(t, dir,
		`trap 'kill -TERM $c; while kill -0 $c 2>/dev/null; do wait $c; done; exit 0' TERM`,
		`trap 'echo child-term >> "$1/log"; kill $(jobs -p) 2>/dev/null; exit 0' TERM`)
	w.GracefulTimeout = time.Minute
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{NoCgroups: true})
	pid := readPid(t, dir, "child.pid")
	mpid := readPid(t, dir, "master.pid")
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	if err := syscall.Kill(-mpid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	proctest.Eventually(t, "the group to be suspended", func() bool {
		return procState(pid) == "T" && procState(mpid) == "T"
	})
	h.do("stop", map[string]any{"name": "master", "waiting": true})
	if b, _ := os.ReadFile(filepath.Join(dir, "log")); string(b) != "child-term\n" {
		t.Errorf("child's log %q, want child-term: the suspended child never had the master's SIGTERM", b)
	}
}

// (A child's trap kills its jobs, not $s: a signal taken between the
// fork of a sleep and s=$! left that sleep running, and the stop waited
// for it until graceful_timeout, 1 run in 8 under load.)

// masterWatcher writes a master (master.sh: masterTrap, which may use $c,
// its child's pid) that starts a child (child.sh: childTraps), each
// writing its pid to dir once its traps are set, and returns a watcher
// running the master with stop_children off.
func masterWatcher(t *testing.T, dir, masterTrap, childTraps string) configs.Watcher {
	t.Helper()
	scripts := map[string]string{
		"master.sh": masterTrap + `
/bin/sh "$0/child.sh" "$0" &
c=$!
echo $$ > "$0/master.pid"
while :; do wait $c; done
`,
		"child.sh": childTraps + `
echo $$ > "$1/child.pid"
while :; do sleep 1000 & s=$!; wait $s; done
`,
	}
	for name, script := range scripts {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	w := configs.DefaultWatcher("master")
	w.Cmd, w.Args = "/bin/sh", []string{"-c", `. "$0/master.sh"`, dir}
	w.StopChildren = false
	return w
}
