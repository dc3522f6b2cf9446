package arbiter

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/proctest"
)

// slowApp is a WSGI app whose import takes $SLOWLOAD seconds, using a
// fifth of a CPU meanwhile (a large app's imports, reading and compiling
// files), or sleeps forever in it with SLOWLOAD=hang (creating
// $MARKER.hanging first). It then creates $MARKER and answers
// "gunicorn pid=N".
const slowApp = `
import os, time
if os.environ["SLOWLOAD"] == "hang":
    open(os.environ["MARKER"] + ".hanging", "w").close()
    time.sleep(3600)
_until = time.monotonic() + float(os.environ["SLOWLOAD"])
while time.monotonic() < _until:
    _burst = time.monotonic() + 0.02
    while time.monotonic() < _burst:
        pass
    time.sleep(0.08)
open(os.environ["MARKER"], "w").close()

def app(environ, start_response):
    body = "gunicorn pid={}\n".format(os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
`

// gunicornWatcher is watcher web running Debian's gunicorn (args before
// the app) on socket web, serving slowApp with env.
func gunicornWatcher(t *testing.T, env []string, args ...string) configs.Watcher {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "slowapp.py"), []byte(slowApp), 0o644); err != nil {
		t.Fatal(err)
	}
	w := configs.DefaultWatcher("web")
	w.Cmd = proctest.Tool(t, "gunicorn", "gunicorn")
	w.Args = append(args, "--chdir", dir, "slowapp:app")
	w.Env = append(env, "MARKER="+filepath.Join(dir, "imported"))
	w.Sockets = []string{"web"}
	w.StopChildren = false
	w.GracefulTimeout = 2 * time.Second
	return w
}

// A deploy whose app hangs in its import, under gunicorn: the new
// master's workers hold the socket and never wait on it. The master was
// counted ready at ready_timeout (after the log line of the soft bound),
// so the rolling reload stopped the serving workers and answered ok: the
// pool served nothing. It has not served by ready_timeout: that is a
// failed start, the reload is abandoned and the old workers serve on.
//
// Why it is not ready is told from what poold saw when ready_timeout
// ended: gunicorn's workers hanging in the import ("still loading"), or,
// on a loaded machine where gunicorn's master had not forked them yet, a
// master still computing ("still used CPU when the wait ended"). The
// first is required when a worker was in the import before ready_timeout
// could have ended (its marker's time); the reload is abandoned, and the
// old workers serve on, either way.
func TestReloadToAMasterWhoseWorkersNeverAcceptKeepsOldWorkers(t *testing.T) {
	bad := gunicornWatcher(t, []string{"SLOWLOAD=hang"}, "--workers", "2")
	bad.NumProcesses = 2
	bad.ReadyTimeout = 3 * time.Second
	hanging := strings.TrimPrefix(bad.Env[len(bad.Env)-1], "MARKER=") + ".hanging"
	good := testWatcher("web", "serve", 2)
	good.Sockets = []string{"web"}
	cfg := &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{good}}
	h := start(t, cfg, Options{Load: func() (*configs.Config, error) {
		c := *cfg
		c.Watchers = []configs.Watcher{bad}
		return &c, nil
	}})
	pids := readyPids(t, h, "web", 2)
	t0 := time.Now() // ready_timeout ends after t0+ReadyTimeout: it runs from the new master's spawn
	r := h.a.Do(context.Background(), Request{ID: "r", Command: "reloadconfig", Properties: map[string]any{"waiting": true}})
	reason := fmt.Sprint(r["reason"])
	fi, err := os.Stat(hanging)
	hungInTime := err == nil && fi.ModTime().Before(t0.Add(bad.ReadyTimeout))
	const loading, computing = "still loading, not waiting for connections", "still used CPU when the wait ended"
	switch {
	case r["errno"] != ErrnoAsync:
		t.Fatalf("reloadconfig to gunicorn whose workers hang in the import: %v; want errno %d", r, ErrnoAsync)
	case hungInTime && !strings.Contains(reason, loading):
		t.Fatalf("reloadconfig: %v; a worker hung in the import at %v, before ready_timeout ended (after %v): want it to say %q",
			r, fi.ModTime().Format("15:04:05.000"), t0.Add(bad.ReadyTimeout).Format("15:04:05.000"), loading)
	case !hungInTime && !strings.Contains(reason, loading) && !strings.Contains(reason, computing):
		t.Fatalf("reloadconfig: %v; want it to say %q, or %q (no worker in the import by ready_timeout: %v)", r, loading, computing, err)
	case !strings.Contains(reason, loading):
		t.Logf("gunicorn's master had forked no worker into the import by ready_timeout (a loaded machine): %s", reason)
	}
	checkStillServing(t, h, pids)
}

// reloadTo reloads watcher web of 2 serving workers to next, waited,
// and returns the harness, the answer and how long it took.
func reloadTo(t *testing.T, next configs.Watcher) (*harness, map[string]any, time.Duration) {
	t.Helper()
	good := testWatcher("web", "serve", 2)
	good.Sockets = []string{"web"}
	cfg := &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{good}}
	h := start(t, cfg, Options{Load: func() (*configs.Config, error) {
		c := *cfg
		c.Watchers = []configs.Watcher{next}
		return &c, nil
	}})
	readyPids(t, h, "web", 2)
	t0 := time.Now()
	r := h.a.Do(context.Background(), Request{ID: "r", Command: "reloadconfig", Properties: map[string]any{"waiting": true}})
	return h, r, time.Since(t0)
}

// A wrapper script that runs a setup script of its shell before it
// execs the server: the setup's shell held the inherited socket and was
// reaped. It counted as a master's worker lost before any waited, so a
// server /proc cannot see waiting (here one that waits on a pipe, as one
// on io_uring would) failed its readiness for the wrong reason ("a worker
// process of it exited"). It was then counted ready at the 10 s bound, as
// any server not seen waiting; but so was a Go server that hangs before it
// serves, and the reload replaced every serving worker with it (r57b-oncall
// H1). A new worker of a rolling reload that shows no sign of serving
// cannot be told from a hung one: it is waited for up to ready_timeout,
// then the reload is abandoned, for the right reason, with the readiness
// that tells such a server ready.
func TestReloadToAWrappedServerNotSeenWaitingIsAbandonedAtReadyTimeout(t *testing.T) {
	py := proctest.Tool(t, "/usr/bin/python3", "python3")
	next := configs.DefaultWatcher("web")
	next.Cmd = "/bin/sh"
	next.Args = []string{"-c", `/bin/sh -c 'sleep 1; :'; exec "$0" -c "$1"`, py,
		`import os, select, socket; s = socket.socket(fileno=3); r, w = os.pipe(); ep = select.epoll(); ep.register(r, select.EPOLLIN); ep.poll()`}
	next.Sockets = []string{"web"}
	next.NumProcesses = 2
	next.ReadyTimeout = 12 * time.Second
	h, r, took := reloadTo(t, next)
	reason := fmt.Sprint(r["reason"])
	if r["status"] == "ok" || !strings.Contains(reason, "not seen waiting for connections") || strings.Contains(reason, "exited") ||
		!strings.Contains(reason, `set readiness = "notify"`) {
		t.Fatalf("reloadconfig to a wrapped server not seen waiting after %v: %v; want it abandoned as not seen waiting, naming the readiness to use", took, r)
	}
	if !strings.Contains(h.log.String(), "not seen waiting for connections yet; the old workers serve on") {
		t.Errorf("no log line at the 10 s bound saying the reload waits on:\n%s", h.log.String())
	}
	t.Logf("reload abandoned after %v", took)
}

// gunicorn --preload imports the app in its master before it forks its
// workers, and no process but the master holds the socket meanwhile: a
// master whose import outlasts the 10 s bound was counted ready there,
// so a rolling reload stopped the serving workers before gunicorn's
// served. The master computes meanwhile: poold waits on, and the reload
// answers only once the import is over and a worker waits.
func TestReloadToGunicornPreloadWaitsForItsWorkers(t *testing.T) {
	next := gunicornWatcher(t, []string{"SLOWLOAD=11"}, "--preload", "--workers", "1")
	marker := strings.TrimPrefix(next.Env[len(next.Env)-1], "MARKER=")
	h, r, took := reloadTo(t, next)
	_, err := os.Stat(marker)
	if r["status"] != "ok" || err != nil {
		t.Fatalf("reloadconfig to gunicorn --preload after %v: %v (import over: %v); want ok once the import is over", took, r, err)
	}
	t.Logf("reload took %v", took)
	proctest.Eventually(t, "gunicorn serving", func() bool {
		body, err := get(h.socketAddr("web"), "/")
		return err == nil && strings.HasPrefix(body, "gunicorn pid=")
	})
}

// A process pool whose forked children inherited the socket and never
// accept on it (a Circus background worker with use_sockets, a server on
// a port of its own): its own processes hold the socket, none waits. At
// its first start nothing serving depends on it; failed at
// ready_timeout, it was stopped and started again, and failed again,
// every ready_timeout for good (r52b-ready). It counts as ready then,
// with a warning; only a rolling reload to one is abandoned.
func TestPoolThatNeverAcceptsIsReadyAtItsFirstStart(t *testing.T) {
	py := proctest.Tool(t, "/usr/bin/python3", "python3")
	w := configs.DefaultWatcher("pool")
	w.Cmd = py
	w.Args = []string{"-c", "import os, time\nfor _ in range(2):\n    if os.fork() == 0:\n        break\ntime.sleep(3600)"}
	w.Sockets = []string{"web"}
	w.ReadyTimeout = 2 * time.Second
	w.GracefulTimeout = time.Second
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{w}}, Options{})
	ready := h.next("ready", nil)
	pid := ready.Fields["process_pid"].(int)
	if !strings.Contains(h.log.String(), "counting it ready, as no rolling reload waits on it") {
		t.Errorf("ready without the warning that says why:\n%s", h.log.String())
	}
	if st := h.do("status", map[string]any{"name": "pool"})["status"]; st != "active" {
		t.Errorf("pool is %v once its worker is ready, want active", st)
	}
	if pids := h.do("list", map[string]any{"name": "pool"})["pids"]; !strings.Contains(fmt.Sprint(pids), fmt.Sprint(pid)) {
		t.Errorf("the ready worker %d is not running: pids %v", pid, pids)
	}
}
