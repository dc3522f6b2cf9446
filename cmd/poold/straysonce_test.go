package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/poold/poold/watcher/proctest"
)

// countingApp is a Python app that notes "<pid> up" in the file argv[1]
// once it handles SIGTERM, and "<pid> TERM" at each SIGTERM; it exits 1 s
// after the first, as a server that finishes the request it has in
// flight (a second SIGTERM makes some, uvicorn, Go servers with a
// double-signal rule, drop it). It counts the bytes the interpreter's C
// handler writes to its wakeup fd, one per delivery: the Python handler
// runs once for signals that come before it does.
const countingApp = `
import os, select, signal, sys, time
out = sys.argv[1]
def note(what):
    with open(out, "a") as f:
        f.write("%d %s\n" % (os.getpid(), what))
r, w = os.pipe()
os.set_blocking(w, False)
signal.set_wakeup_fd(w)
signal.signal(signal.SIGTERM, lambda sig, frame: None)
note("up")
first = None
while first is None or time.monotonic() - first < 1.0:
    if select.select([r], [], [], 0.05)[0]:
        for b in os.read(r, 64):
            if b == signal.SIGTERM:
                note("TERM")
                first = first or time.monotonic()
`

// shellWrappedConfig: each watcher is a shell that runs the app without
// exec, so the shell stays the group leader, as with 'bash run.sh' or
// 'npm start'. plain ('app; echo after') and wrapped get their stop
// signal on their process group; alone on the shell only (stop_children
// = false), which passes it on to what the shell left once it has ended.
// wrapped's shell ends only once its app has noted its SIGTERM: poold's
// second one, at the shell's end, then comes after the first has been
// taken, and cannot merge with it as a pending signal.
const shellWrappedConfig = `[arbiter]
ENDPOINTS

[watchers.plain]
cmd = "/bin/sh"
args = ["-c", %[1]q]
graceful_timeout = "20s"

[watchers.wrapped]
cmd = "/bin/sh"
args = ["-c", %[2]q]
graceful_timeout = "20s"

[watchers.alone]
cmd = "/bin/sh"
args = ["-c", %[3]q]
graceful_timeout = "20s"
stop_children = false
`

// Without cgroups, the app a shell runs without exec stays in the
// worker's process group when the shell dies of the stop signal, and
// becomes poold's child. Taken for a stray "outside its process group",
// it got stop_signal a second time at the worker's end, 1 ms after the
// first: a request in flight dropped in 3 of 6 stops of a Go server with
// a double-SIGTERM rule. It now gets it once, on a stop, a rolling reload
// and a SIGTERM to poold alike.
func TestAppLeftInTheGroupGetsTheStopSignalOnce(t *testing.T) {
	python := proctest.Tool(t, "/usr/bin/python3", "python3")
	dir := openTempDir(t)
	app, signals := filepath.Join(dir, "app.py"), filepath.Join(dir, "signals")
	if err := os.WriteFile(app, []byte(countingApp), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(name string) string { return fmt.Sprintf("%s %s %s.%s", python, app, signals, name) }
	wrapped := fmt.Sprintf(`%s & trap 'until grep -q "^$! TERM" %s.wrapped; do sleep 0.01; done; exit 0' TERM; wait`, run("wrapped"), signals)
	p := startBinaryIn(t, dir, fmt.Sprintf(shellWrappedConfig, run("plain")+"; echo after", wrapped, run("alone")+"; echo after"), withoutCgroups)
	p.waitLogBin(t, `containment: (process groups) only`)
	ctl := &upProc{t: t, dir: dir}
	names := []string{"plain", "wrapped", "alone"}
	// ups waits for the apps of the running workers and returns them.
	ups := func(what string) map[string]int {
		apps := map[string]int{}
		for _, name := range names {
			proctest.Eventually(t, what+": "+name+"'s app up", func() bool {
				l := appSignals(signals + "." + name)
				apps[name] = l.last
				return l.last != 0 && l.up[l.last] && proctest.Alive(l.last) && l.terms[l.last] == 0
			})
		}
		return apps
	}
	// each runs cmd on every watcher, and checks that the app of each in
	// apps then had exactly one SIGTERM, and that poold did not log the
	// stop of one outside its worker's group.
	each := func(cmd string, apps map[string]int) {
		t.Helper()
		logFrom := len(p.log.String())
		for _, name := range names {
			if r := ctl.do(cmd, map[string]any{"name": name, "waiting": true}); r["status"] != "ok" {
				t.Fatalf("%s %s: %v", cmd, name, r)
			}
		}
		checkOnce(t, p, cmd, signals, apps, logFrom)
	}
	each("reload", ups("at start"))
	each("stop", ups("after the reload"))
	for _, name := range names {
		if r := ctl.do("start", map[string]any{"name": name, "waiting": true}); r["status"] != "ok" {
			t.Fatalf("start %s: %v", name, r)
		}
	}
	apps, logFrom := ups("after the start"), len(p.log.String())
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}
	checkOnce(t, p, "SIGTERM to poold", signals, apps, logFrom)
}

// checkOnce checks that each app of apps (watcher -> pid) ends having
// had exactly one SIGTERM, and that poold's log from logFrom on does not
// take one for a process outside its worker's group.
func checkOnce(t *testing.T, p *binProc, what, signals string, apps map[string]int, logFrom int) {
	t.Helper()
	for name, pid := range apps {
		proctest.Eventually(t, fmt.Sprintf("%s: %s's app %d ended", what, name, pid), func() bool { return !proctest.Alive(pid) })
		if n := appSignals(signals + "." + name).terms[pid]; n != 1 {
			t.Errorf("%s: %s's app %d, left in the worker's process group as the shell died, got %d SIGTERMs, want 1", what, name, pid, n)
		}
	}
	if log := p.log.String()[logFrom:]; strings.Contains(log, "stopping what a worker left outside its process group") {
		t.Errorf("%s: poold took an app still in its worker's process group for one outside it:\n%s", what, log)
	}
}

// appLog is what the apps of one watcher noted (countingApp).
type appLog struct {
	last  int // the pid of the last app up
	up    map[int]bool
	terms map[int]int
}

func appSignals(file string) appLog {
	l := appLog{up: map[int]bool{}, terms: map[int]int{}}
	b, _ := os.ReadFile(file)
	for _, line := range strings.Split(string(b), "\n") {
		pid, what, ok := strings.Cut(line, " ")
		n, err := strconv.Atoi(pid)
		if !ok || err != nil {
			continue
		}
		switch what {
		case "up":
			l.up[n], l.last = true, n
		case "TERM":
			l.terms[n]++
		}
	}
	return l
}

// masterScript is a master that forks two workers (in its process
// group, as gunicorn's are) and waits for them; it writes its pid to
// PIDFILE. Its workers outlive a SIGTERM (they ignore it), as gunicorn's
// do while they finish their requests.
const masterScript = `#!/bin/sh
trap '' TERM
sleep 1000 &
sleep 1000 &
echo $$ > PIDFILE
wait
`

// Without cgroups, a kill -9 of a master with two workers said "leaving
// 4 process(es)": the end of its process group counted the two workers,
// and the stop of its strays counted them again, taken for ones outside
// the group. Each is counted once. (They get the watcher's stop_signal,
// which they ignore, and SIGKILL at its graceful_timeout.)
func TestKilledMasterCountsItsWorkersOnce(t *testing.T) {
	t.Parallel()
	dir := openTempDir(t)
	script, pidfile := writeScript(t, dir, "master.sh", masterScript)
	p := startBinaryIn(t, dir, fmt.Sprintf("[arbiter]\nENDPOINTS\n\n[watchers.m]\ncmd = %q\nrespawn = false\ngraceful_timeout = \"1s\"\n", script), withoutCgroups)
	p.waitLogBin(t, `containment: (process groups) only`)
	master := daemons(t, pidfile, 1)[0]
	var workers []int
	proctest.Eventually(t, "the master's two workers", func() bool {
		workers = childrenOf(master)
		return len(workers) == 2
	})
	t.Cleanup(func() {
		for _, w := range workers {
			_ = syscall.Kill(w, syscall.SIGKILL)
		}
	})
	if err := syscall.Kill(master, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	why := p.waitLogBin(t, `(killed by signal KILL, leaving \d+ process\(es\) running[^"\n]*)`)
	if want := "killed by signal KILL, leaving 2 process(es) running, which poold sent TERM (SIGKILL to those left after graceful_timeout 1s)"; why != want {
		t.Errorf("exit reason %q, want %q: the master left its 2 workers", why, want)
	}
	for _, w := range workers {
		proctest.Eventually(t, fmt.Sprintf("the master's worker %d killed", w), func() bool { return !proctest.Alive(w) })
	}
}
