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

// TestSendHUPReachesTheWorkerOnly: a reload with send_hup sent SIGHUP to
// the worker's whole process group, and a master's children that do not
// handle it die of it: gunicorn's workers (SIGHUP is SIG_DFL in them)
// were all "terminated due to signal 1", dropping their requests, while
// the master alone was asked to reload. As circusd does, the HUP goes to
// the worker's process, which passes it on as it sees fit.
func TestSendHUPReachesTheWorkerOnly(t *testing.T) {
	dir := t.TempDir()
	w := configs.DefaultWatcher("master")
	w.Cmd, w.Args = "/bin/sh", []string{"-c", `trap 'echo hup > "$0/hup"' HUP
sleep 1000 & echo $! > "$0/child.pid"
while :; do wait; done`, dir}
	w.SendHUP = true
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{NoCgroups: true})
	child := readPid(t, dir, "child.pid")
	t.Cleanup(func() { _ = syscall.Kill(child, syscall.SIGKILL) })
	h.do("reload", map[string]any{"name": "master", "waiting": true})
	proctest.Eventually(t, "the worker to handle its SIGHUP", func() bool {
		_, err := os.Stat(filepath.Join(dir, "hup"))
		return err == nil
	})
	// A HUP sent to the group kills the child within microseconds of the
	// worker's; a second is a generous bound for it to show.
	if proctest.Poll(time.Second, func() bool { return !proctest.Alive(child) }) {
		t.Errorf("the worker's child pid %d died of the SIGHUP meant for the worker", child)
	}
}
