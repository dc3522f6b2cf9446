package arbiter

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/proctest"
)

// orphanMaster is a Python master in the shape of uvicorn --workers 2
// whose app cannot be imported: its two workers (forked, so they hold
// the socket at fd 3 from the start) load for 3 seconds, fail and exit,
// and the master sleeps on, never reaping them, serving nothing. Under
// load (45 on 2 cores) readiness's looks missed workers that lived 1 s.
const orphanMaster = `
import os, time
for _ in range(2):
    if os.fork() == 0:
        time.sleep(3)  # the app's imports, then the one that fails
        os._exit(3)
time.sleep(3600)
`

const orphanReason = "its worker processes exited before any waited for connections"

// orphanWatcher is watcher web running orphanMaster on socket web.
func orphanWatcher(t *testing.T) configs.Watcher {
	t.Helper()
	w := configs.DefaultWatcher("web")
	w.Cmd = proctest.Tool(t, "/usr/bin/python3", "python3")
	w.Args = []string{"-c", orphanMaster}
	w.Sockets = []string{"web"}
	return w
}

// A deploy whose app cannot be imported, under a master that outlives
// its workers (uvicorn --workers N): the master was counted ready at the
// 10 s bound of readiness "spawn", so the rolling reload stopped the
// serving workers and reported success, a full outage. The reload is
// now abandoned and the old workers serve on.
func TestReloadToAMasterThatLosesItsWorkersKeepsOldWorkers(t *testing.T) {
	bad := orphanWatcher(t)
	bad.NumProcesses = 2
	checkReloadKeepsOldWorkers(t, bad, orphanReason)
}

// checkReloadKeepsOldWorkers reloads watcher web of 2 serving workers
// to bad, waited: the reload must fail with reason, and the old workers
// serve on.
func checkReloadKeepsOldWorkers(t *testing.T, bad configs.Watcher, reason string) {
	t.Helper()
	good := testWatcher("web", "serve", 2)
	good.Sockets = []string{"web"}
	cfg := &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{good}}
	h := start(t, cfg, Options{Load: func() (*configs.Config, error) {
		c := *cfg
		c.Watchers = []configs.Watcher{bad}
		return &c, nil
	}})
	pids := readyPids(t, h, "web", 2)
	r := h.a.Do(context.Background(), Request{ID: "r", Command: "reloadconfig", Properties: map[string]any{"waiting": true}})
	if r["errno"] != ErrnoAsync || !strings.Contains(fmt.Sprint(r["reason"]), reason) {
		t.Fatalf("reloadconfig to %s %q: %v; want errno %d saying %q", bad.Cmd, bad.Args, r, ErrnoAsync, reason)
	}
	checkStillServing(t, h, pids)
}

// A waited start of such a master fails instead of answering ok for a
// worker that never served.
func TestWaitedStartOfAMasterThatLosesItsWorkersFails(t *testing.T) {
	bad := orphanWatcher(t)
	bad.Autostart = false
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{bad}}, Options{})
	r := h.a.Do(context.Background(), Request{ID: "s", Command: "start", Properties: map[string]any{"name": "web", "waiting": true}})
	if r["errno"] != ErrnoAsync || !strings.Contains(fmt.Sprint(r["reason"]), orphanReason) {
		t.Fatalf("waited start of a master whose workers all exit: %v; want errno %d saying %q", r, ErrnoAsync, orphanReason)
	}
}
