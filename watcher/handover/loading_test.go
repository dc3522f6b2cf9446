package handover

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/watcher/proctest"
)

// invisible is a Python server that holds the socket at fd 3 and waits
// in a way /proc cannot tie to it (an epoll set of a pipe), as a server
// on io_uring, or one that bound another socket, would.
const invisible = `import os, select, socket; s = socket.socket(fileno=3); r, w = os.pipe(); ep = select.epoll(); ep.register(r, select.EPOLLIN); ep.poll()`

// A wrapper script that runs a setup script of its own shell before it
// execs the server (`sh -c 'sh setup.sh; exec app'`): the setup's shell
// held the inherited socket while it ran the program of its parent, and
// was reaped. It was counted as a master's worker lost before any
// waited, so a server /proc cannot see waiting was held to ctx's end
// (ready_timeout) and failed its readiness there, instead of counting
// as ready at the soft bound: the shell that had it exec'd the server
// since, and is no master.
func TestWaitGivesUpOnAServerAfterItsWrappersSetupAtTheSoftBound(t *testing.T) {
	py := proctest.Tool(t, "/usr/bin/python3", "python3")
	f, socks := listenerInodes(t)
	// The setup shell runs 1 s (two commands: it forks sleep and waits).
	pid := startReaped(t, exec.Command("/bin/sh", "-c", `/bin/sh -c 'sleep 1; :'; exec "$0" -c "$1"`, py, invisible), f)
	proctest.Eventually(t, "the wrapper's setup shell", func() bool {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
		return err == nil && len(strings.TrimSpace(string(b))) > 0
	})
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	t0 := time.Now()
	s, err := Wait(ctx, pid, socks, 2*time.Second)
	if !errors.Is(err, ErrNotSeen) || ctx.Err() != nil {
		t.Fatalf("Wait = %v, %v after %v (ctx ended: %v); want ErrNotSeen at the soft bound", s, err, time.Since(t0), ctx.Err() != nil)
	}
	t.Logf("after %v: %v", time.Since(t0), err)
}

// A master whose workers hold the socket and never wait on it (an app
// that hangs in its import, or workers that never accept): it was
// counted ready once ctx ended (ready_timeout), and a rolling reload
// replaced serving workers with it. It has not served: Wait says so.
func TestWaitReportsAMasterWhoseWorkersNeverWait(t *testing.T) {
	py := proctest.Tool(t, "/usr/bin/python3", "python3")
	f, socks := listenerInodes(t)
	const master = `
import os, time
for _ in range(2):
    if os.fork() == 0:
        time.sleep(3600)
os.wait()
`
	pid := startReaped(t, exec.Command(py, "-c", master), f)
	proctest.Eventually(t, "the master's two workers", func() bool {
		_, _, workers, err := look(pid, socks, false)
		return err == nil && len(workers) == 2
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s, err := Wait(ctx, pid, socks, time.Second)
	if !errors.Is(err, ErrStillLoading) || !strings.Contains(err.Error(), "hold its sockets") {
		t.Fatalf("Wait = %v, %v; want ErrStillLoading naming the workers", s, err)
	}
	t.Log(err)
}

// gunicorn --preload imports the app in its master before it forks the
// workers: no process of its holds the socket but the master, which
// computes. It was counted ready at the soft bound, before any worker
// existed: Wait now goes on while the tree computes, and sees the
// worker wait. uvicorn --workers 2 spawns its workers first, and they
// hold the socket while they import.
func TestWaitFollowsAServerThatImportsPastTheSoftBound(t *testing.T) {
	py := proctest.Tool(t, "/usr/bin/python3", "python3")
	gunicorn := proctest.Tool(t, "gunicorn", "gunicorn")
	proctest.PythonModules(t, py, "uvicorn", "python3-uvicorn")
	app, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		argv []string
	}{
		{"gunicorn --preload", []string{"/bin/sh", "-c", `LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@"`,
			gunicorn, "--preload", "--workers", "2", "--chdir", app, "slowload:app"}},
		{"gunicorn", []string{"/bin/sh", "-c", `LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@"`,
			gunicorn, "--workers", "2", "--chdir", app, "slowload:app"}},
		{"uvicorn --workers 2", []string{py, "-m", "uvicorn", "--fd", "3", "--workers", "2", "--app-dir", app, "slowload:asgi"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := proctest.ListenerFile(t)
			socks, err := InodesOf([]*os.File{f})
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(tc.argv[0], tc.argv[1:]...)
			cmd.Env = append(os.Environ(), "LISTEN_FDS=1", "SLOWLOAD=3")
			pid := startGroup(t, cmd, f)
			ctx, cancel := context.WithTimeout(context.Background(), 3*hang)
			defer cancel()
			t0 := time.Now()
			s, err := Wait(ctx, pid, socks, time.Second)
			if err != nil || s == Busy {
				t.Fatalf("Wait = %v, %v after %v; want seen waiting", s, err, time.Since(t0))
			}
			if d := time.Since(t0); d < 3*time.Second {
				t.Fatalf("Wait = %v after %v, before the app's 3 s import was over", s, d)
			}
			t.Logf("%v after %v", s, time.Since(t0))
		})
	}
}

// A server /proc cannot show waiting (one on io_uring, one that binds a
// socket of its own) computes once it serves: computing alone keeps the
// wait going past the soft bound (gunicorn --preload), but is no proof
// that it never serves, so at the end of the wait it counts as not seen
// (ready), not as still loading (failed).
func TestWaitCountsAServerThatOnlyComputesAsNotSeen(t *testing.T) {
	f, socks := listenerInodes(t)
	pid := startReaped(t, exec.Command("/bin/sh", "-c", "while :; do :; done"), f)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	t0 := time.Now()
	s, err := Wait(ctx, pid, socks, 500*time.Millisecond)
	if !errors.Is(err, ErrNotSeen) || errors.Is(err, ErrStillLoading) || !strings.Contains(err.Error(), "still used CPU") {
		t.Fatalf("Wait = %v, %v; want ErrNotSeen saying that it computed", s, err)
	}
	if ctx.Err() == nil {
		t.Fatalf("Wait gave up after %v, at the soft bound, on a process that computes", time.Since(t0))
	}
}

// A server /proc cannot show waiting that uses a little CPU now and then
// (a runtime's timers, a housekeeping tick) is not computing: it is given
// up on at the soft bound, as an idle one is, not held to the end of the
// wait (r52b-ready: 186 of 200 such servers waited ready_timeout on a
// loaded machine, where any CPU used in a second counted). An import
// that gets a twentieth of a CPU on a loaded machine, runnable most of
// the time, still computes.
func TestLoadingTellsATickFromAnImport(t *testing.T) {
	t0 := time.Unix(1000, 0)
	for _, tc := range []struct {
		name     string
		cpuPerS  time.Duration // CPU used each second
		runEvery int           // one look in runEvery finds it running (0: none)
		want     bool
	}{
		{"idle", 0, 0, false},
		{"a tick a second", 10 * time.Millisecond, 0, false},
		{"4 % of a CPU, seen running in one look of 40", 40 * time.Millisecond, 40, false},
		{"an import on an idle machine", 900 * time.Millisecond, 1, true},
		{"an import on a loaded machine: 5 % of a CPU, runnable in 1 look of 3", 50 * time.Millisecond, 3, true},
	} {
		var l loading
		var busy bool
		// Looks every 25 ms for 2.5 s; what counts is the last one, at
		// the soft bound, which here finds it not running.
		for i := 0; i <= 100; i++ {
			now := t0.Add(time.Duration(i) * 25 * time.Millisecond)
			cpu := tc.cpuPerS * time.Duration(i) / 40
			running := tc.runEvery > 0 && i%tc.runEvery == 1 && i != 100
			busy = l.observe(now, cpu, running)
		}
		if busy != tc.want {
			t.Errorf("%s: computing %v at the soft bound, want %v", tc.name, busy, tc.want)
		}
	}
}
