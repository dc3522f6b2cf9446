package arbiter

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/proctest"
)

// forkOnTermMaster is a python master that, on SIGTERM, forks a child
// and waits for it: a gunicorn master forking a worker as it is told to
// stop (gunicorn's spawn loop goes on after the signal, which its handler
// only queues). The child runs until it is signalled. Each signal handled is a
// line of dir/log (a second master-term would be a second stop signal).
// onTerm is what the child does: "wait" for a signal, or "helper": end
// on its own after a moment (a helper a worker starts to deregister
// itself), which must not be killed. With "job" the master forks no child
// at its TERM: it had one from its start (a job in hand), which it tells
// to finish (SIGUSR1) and waits for; with "jobstep" the job finishes by
// running a step of its own (a subprocess: pg_dump, ffmpeg) and waiting
// for it.
func forkOnTermMaster(t *testing.T, dir, onTerm string) configs.Watcher {
	t.Helper()
	script := `import os, signal, sys, time
d, mode = sys.argv[1], sys.argv[2]
def note(line):
    with open(os.path.join(d, "log"), "a") as f:
        f.write(line + "\n")
def idle():
    # Not signal.pause(): a signal that comes between Python's look for
    # one and the pause is lost (1 run in 40 sat out graceful_timeout
    # with no handler run); a short sleep runs the handler once it ends.
    while True:
        time.sleep(0.2)
def child_term(sig, frame):
    note("late-term")
    os._exit(0)
job = 0
def term(sig, frame):
    note("master-term")
    if job:
        os.kill(job, signal.SIGUSR1) # finish the job in hand, then end
        os.waitpid(job, 0)
        os._exit(0)
    time.sleep(0.3) # the rest of its spawn loop: the fork comes after poold's signal
    pid = os.fork()
    if pid == 0:
        signal.signal(signal.SIGTERM, child_term)
        with open(os.path.join(d, "late.pid"), "w") as f:
            f.write("%d\n" % os.getpid())
        if mode == "helper":
            time.sleep(1.5)
            note("helper-done")
            os._exit(0)
        idle()
    os.waitpid(pid, 0)
    os._exit(0)
if mode in ("job", "jobstep"):
    r, w = os.pipe()
    job = os.fork()
    if job == 0:
        def job_term(sig, frame):
            note("job-term")
            os._exit(1)
        def step_term(sig, frame):
            note("step-term")
            os._exit(1)
        def finish(sig, frame):
            if mode == "jobstep":
                step = os.fork()
                if step == 0:
                    signal.signal(signal.SIGTERM, step_term)
                    time.sleep(1.5) # past bootSettled and a sweep or two
                    note("step-done")
                    os._exit(0)
                os.waitpid(step, 0)
            else:
                time.sleep(1.5)
            note("job-done")
            os._exit(0)
        signal.signal(signal.SIGTERM, job_term)
        signal.signal(signal.SIGUSR1, finish)
        os.write(w, b"x") # its handlers are set: the master may go on
        idle()
    os.read(r, 1)
signal.signal(signal.SIGTERM, term)
with open(os.path.join(d, "master.pid"), "w") as f:
    f.write("%d\n" % os.getpid())
idle()
`
	if err := os.WriteFile(filepath.Join(dir, "master.py"), []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	w := configs.DefaultWatcher("master")
	w.Cmd = proctest.Tool(t, "/usr/bin/python3", "python3")
	w.Args = []string{filepath.Join(dir, "master.py"), dir, onTerm}
	return w
}

// startBootingMaster starts forkOnTermMaster (onTerm, in dir) as a
// worker that never becomes ready (readiness notify, no READY=1: it is
// booting when stopped), with stop_children and opts' containment, and
// returns once the master runs.
func startBootingMaster(t *testing.T, dir, onTerm string, stopChildren bool, opts Options) *harness {
	t.Helper()
	w := forkOnTermMaster(t, dir, onTerm)
	w.StopChildren = stopChildren
	w.Readiness = "notify"
	w.ReadyTimeout = 10 * time.Minute
	w.GracefulTimeout = 50 * time.Second
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, opts)
	if !opts.NoCgroups {
		needCgroups(t, h)
	}
	t.Cleanup(func() { // what the processes saw, also when a stop failed the test
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "log"))
			t.Logf("signals seen (%s/log):\n%s", dir, b)
		}
	})
	readPid(t, dir, "master.pid")
	return h
}

// TestStopOfABootingMasterSignalsWhatItForksLate: a gunicorn master
// stopped while it boots its workers can fork one that never gets a
// SIGTERM (its master's reached it before it set its handlers, poold's
// group signal before it existed). The master waited its graceful timeout
// for it, then SIGKILLed it: every waited command behind the stop
// answered 30 s late. poold now sends stop_signal, once, to such a
// process of a worker that was never ready.
func TestStopOfABootingMasterSignalsWhatItForksLate(t *testing.T) {
	for _, c := range containments {
		for _, children := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/stop_children=%v", c.name, children), func(t *testing.T) {
				dir := t.TempDir()
				h := startBootingMaster(t, dir, "wait", children, c.opts)
				took, got := stopBootingMaster(t, h, dir)
				if want := "master-term\nlate-term\n"; got != want {
					t.Errorf("signals seen:\n%s\nwant:\n%s(one stop signal to the master, one to what it forked late)", got, want)
				}
				// A generous bound: without the sweep the stop lasts
				// graceful_timeout (50 s), with it well under a second.
				if took > 25*time.Second {
					t.Errorf("stop took %v: the late child never had a stop signal and the master waited for it", took)
				}
				if !strings.Contains(h.log.String(), "worker stopped while booting: sent stop_signal") {
					t.Errorf("no log line says poold signalled the late process")
				}
			})
		}
	}
}

// TestStopOfAReadyWorkerLeavesItsShutdownHelper: a ready worker's SIGTERM
// handler may start a helper (to deregister itself); the boot sweep is
// not for it, so the helper ends on its own, unsignalled.
func TestStopOfAReadyWorkerLeavesItsShutdownHelper(t *testing.T) {
	dir := t.TempDir()
	w := forkOnTermMaster(t, dir, "helper")
	w.StopChildren = false
	w.GracefulTimeout = 50 * time.Second
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{})
	readPid(t, dir, "master.pid")
	h.waitStatus("master", "active")
	h.do("stop", map[string]any{"name": "master", "waiting": true})
	b, _ := os.ReadFile(filepath.Join(dir, "log"))
	if got, want := string(b), "master-term\nhelper-done\n"; got != want {
		t.Errorf("signals seen:\n%s\nwant:\n%s(the helper of a ready worker finishes unsignalled)", got, want)
	}
}

// TestStopOfABootingWorkerLeavesWhatItRanBefore: with stop_children off
// the stop signal is the worker's alone, and what it ran before its stop
// (a job in hand) is its to stop: the boot sweep takes only what it forks
// after the signal (r64 review2: a runner's job child got poold's TERM),
// and not what descends from what it had: the step a job runs as it
// finishes (r65 review M1: the step got poold's TERM).
func TestStopOfABootingWorkerLeavesWhatItRanBefore(t *testing.T) {
	for _, c := range containments {
		for _, job := range []struct{ mode, want string }{
			{"job", "master-term\njob-done\n"},
			{"jobstep", "master-term\nstep-done\njob-done\n"},
		} {
			t.Run(c.name+"/"+job.mode, func(t *testing.T) {
				dir := t.TempDir()
				h := startBootingMaster(t, dir, job.mode, false, c.opts)
				h.do("stop", map[string]any{"name": "master", "waiting": true})
				b, _ := os.ReadFile(filepath.Join(dir, "log"))
				if got := string(b); got != job.want {
					t.Errorf("signals seen:\n%s\nwant:\n%s(the job the worker ran before its stop finishes, and what it runs, unsignalled by poold)", got, job.want)
				}
			})
		}
	}
}

// TestStopOfABootingWorkerSweepsWhatItForksAsItIsSignalled: what the
// worker had is read before its stop signal goes out. Read after it (r65
// review), a child the master forked in between counted as one it had,
// was never swept, and held the stop for graceful_timeout: with
// stop_children off (r65 bootfix), and on, where the group's signal is
// told apart from what forked after it by the kernel's order of pids
// (r66). Here the master forks it in that gap, for sure.
func TestStopOfABootingWorkerSweepsWhatItForksAsItIsSignalled(t *testing.T) {
	for _, c := range containments {
		for _, children := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/stop_children=%v", c.name, children), func(t *testing.T) {
				dir := t.TempDir()
				h := startBootingMaster(t, dir, "wait", children, c.opts)
				h.a.afterBootStopSignal = func(int) { // on the loop: hold it until the fork
					proctest.Poll(time.Minute, func() bool {
						_, err := os.Stat(filepath.Join(dir, "late.pid"))
						return err == nil
					})
				}
				took, got := stopBootingMaster(t, h, dir)
				if want := "master-term\nlate-term\n"; got != want {
					t.Errorf("signals seen:\n%s\nwant:\n%s(what the master forked as it got its stop signal is swept)", got, want)
				}
				if took > 25*time.Second { // graceful_timeout is 50 s
					t.Errorf("stop took %v: the late child never had a stop signal and the master waited for it", took)
				}
			})
		}
	}
}

// stopBootingMaster stops the master of startBootingMaster and waits for
// the stop; it returns how long that took and the signals its processes
// saw (dir/log). The child it forked late is killed at the test's end,
// should the stop have left it.
func stopBootingMaster(t *testing.T, h *harness, dir string) (took time.Duration, log string) {
	t.Helper()
	began := time.Now()
	h.do("stop", map[string]any{"name": "master", "waiting": true})
	took = time.Since(began)
	late := readPid(t, dir, "late.pid")
	t.Cleanup(func() { _ = syscall.Kill(late, syscall.SIGKILL) })
	b, _ := os.ReadFile(filepath.Join(dir, "log"))
	return took, string(b)
}
