package arbiter

import (
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/proctest"
)

// haltingMaster is a Python master in the shape of gunicorn whose app
// raises at import: of its two workers (forked, so they hold the socket
// at fd 3 from the start), one fails to boot at once and the master
// reaps it; the other is still loading, and the master waits for it
// before it halts (gunicorn waits up to its --graceful-timeout), serving
// nothing meanwhile.
const haltingMaster = `
import os, time
if os.fork() == 0:
    time.sleep(0.3)  # the app's imports, then the one that fails
    os._exit(3)
if os.fork() == 0:
    time.sleep(3600)  # still importing
    os._exit(0)
os.wait()
os.wait()
`

const haltReason = "a worker process of it exited before any waited for connections"

// A deploy whose app raises at import, under gunicorn: the new master
// neither waits for connections nor exits within the bound of readiness
// "spawn" (10 s, or ready_timeout if shorter), because it waits for its
// other workers before it halts. It was counted ready at that bound, so
// the rolling reload stopped every serving master and answered ok: the
// pool served nothing. The reload is now abandoned and the old workers
// serve on.
func TestReloadToAMasterWhoseWorkerFailedToBootKeepsOldWorkers(t *testing.T) {
	bad := configs.DefaultWatcher("web")
	bad.Cmd = proctest.Tool(t, "/usr/bin/python3", "python3")
	bad.Args = []string{"-c", haltingMaster}
	bad.Sockets = []string{"web"}
	bad.NumProcesses = 2
	bad.ReadyTimeout = 2 * time.Second
	bad.GracefulTimeout = time.Second
	checkReloadKeepsOldWorkers(t, bad, haltReason)
}
