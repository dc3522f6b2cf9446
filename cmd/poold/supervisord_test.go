package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/watcher/proctest"
)

// supervisordSite writes a supervisord.conf into a fresh directory whose
// programs append a line to DIR/NAME.runs each time they start, and sets
// poold's endpoints to private ones in that directory.
func supervisordSite(t *testing.T, conf string) (dir, path string) {
	t.Helper()
	dir = t.TempDir()
	t.Setenv("POOLD_ARBITER_ENDPOINT", "ipc://"+dir+"/c.sock")
	t.Setenv("POOLD_ARBITER_PUBSUB_ENDPOINT", "ipc://"+dir+"/e.sock")
	t.Setenv("POOLD_ARBITER_STATS_ENDPOINT", "ipc://"+dir+"/s.sock")
	path = filepath.Join(dir, "supervisord.conf")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(conf, "DIR", dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, path
}

// runs counts the lines of DIR/NAME.runs: how often program NAME started.
func runs(dir, name string) int {
	b, _ := os.ReadFile(filepath.Join(dir, name+".runs"))
	return strings.Count(string(b), "\n")
}

// Defect: supervisord's autorestart=unexpected, its default, leaves a
// program that exits with an expected status (exitcodes, default 0)
// EXITED; poold started it again forever (then called it flapping),
// so a one-shot job ran in a loop.
func TestSupervisordExpectedExitIsNotRestarted(t *testing.T) {
	dir, path := supervisordSite(t, `
[program:once]
command=/bin/sh -c 'echo run >> DIR/once.runs; exit 0'
startsecs=0

[program:three]
command=/bin/sh -c 'echo run >> DIR/three.runs; exit 3'
startsecs=0
autorestart=unexpected
exitcodes=0,3

[program:again]
command=/bin/sh -c 'echo run >> DIR/again.runs; exit 0'
startsecs=0
autorestart=true
`)
	p := launchPoold(t, nil, dir, path, nil)
	c := dialControl(t, p)
	// again restarts after status 0 (autorestart=true): by its third run,
	// once and three have had time to be restarted, had they been.
	proctest.Eventually(t, "again started 3 times", func() bool { return runs(dir, "again") >= 3 })
	for _, name := range []string{"once", "three"} {
		proctest.Eventually(t, name+" stopped", func() bool {
			r := call(t, c, "status", map[string]any{"name": name})
			return r["status"] == "stopped"
		})
		if n := runs(dir, name); n != 1 {
			t.Errorf("%s ran %d times; want once: its status is in exitcodes and autorestart is unexpected", name, n)
		}
	}
	call(t, c, "start", map[string]any{"name": "once", "waiting": true})
	proctest.Eventually(t, "once started again by start", func() bool { return runs(dir, "once") == 2 })
}

// Defect: startretries=N became flapping_attempts = N, so poold gave up
// after N starts where supervisord makes N+1 (the first and N retries),
// and startretries=0 (give up at the first failed start) turned flapping
// detection off: the program was started again forever.
func TestSupervisordStartretriesCountsRetries(t *testing.T) {
	dir, path := supervisordSite(t, `
[program:two]
command=/bin/sh -c 'echo run >> DIR/two.runs; exit 1'
startsecs=1
startretries=2

[program:none]
command=/bin/sh -c 'echo run >> DIR/none.runs; exit 1'
startsecs=1
startretries=0
`)
	p := launchPoold(t, nil, dir, path, nil)
	c := dialControl(t, p)
	for name, want := range map[string]int{"two": 3, "none": 1} {
		proctest.Eventually(t, name+" failed", func() bool {
			r := call(t, c, "status", map[string]any{"name": name})
			return r["state"] == "failed"
		})
		if n := runs(dir, name); n != want {
			t.Errorf("%s started %d times before it gave up; want %d, as supervisord", name, n, want)
		}
	}
}

// startretries counts failed starts only: a program that crashes after
// startsecs is restarted however often that happens, as supervisord
// restarts a RUNNING program (poold counted any death within 10 s).
func TestSupervisordCrashAfterStartsecsIsNotAFailedStart(t *testing.T) {
	dir, path := supervisordSite(t, `
[program:late]
command=/bin/sh -c 'echo run >> DIR/late.runs; sleep 0.3; exit 1'
startsecs=0.1
startretries=0
`)
	p := launchPoold(t, nil, dir, path, nil)
	c := dialControl(t, p)
	proctest.Eventually(t, "late started 3 times", func() bool { return runs(dir, "late") >= 3 })
	if r := call(t, c, "status", map[string]any{"name": "late"}); r["status"] != "active" {
		t.Errorf("late is %v after crashes past startsecs; want active", r["status"])
	}
}

// Defect: %% reached the program as %% (supervisord gives %), and
// %(numprocs)d and the program's own environment= as %(ENV_X)s were not
// expanded. What the program prints is what it prints under supervisord
// 4.2.5.
func TestSupervisordExpansionsReachTheProgram(t *testing.T) {
	dir, path := supervisordSite(t, `
[program:x]
command=/bin/sh -c 'echo "pct=%% n=%(numprocs)02d port=%(ENV_PORT)s" >> DIR/x.runs; exec sleep 3600'
environment=PORT=8%(numprocs)d
`)
	launchPoold(t, nil, dir, path, nil)
	proctest.Eventually(t, "x started", func() bool { return runs(dir, "x") >= 1 })
	b, _ := os.ReadFile(filepath.Join(dir, "x.runs"))
	if got, want := string(b), "pct=% n=01 port=81\n"; got != want {
		t.Errorf("the program printed %q; want %q, as under supervisord", got, want)
	}
}

// Defect: [supervisord] environment reached only the programs after it in
// the file (a [supervisord] section at the end, or after [include]d
// programs, gave them nothing), and [supervisord] umask was dropped with
// a warning where supervisord's programs inherit it.
func TestSupervisordSectionAppliesWhereverItStands(t *testing.T) {
	dir, path := supervisordSite(t, `
[program:a]
command=/bin/sh -c 'echo "$(umask) $SHARED" >> DIR/a.runs; exec sleep 3600'

[supervisord]
environment=SHARED="from supervisord"
umask=077
`)
	launchPoold(t, nil, dir, path, nil)
	proctest.Eventually(t, "a started", func() bool { return runs(dir, "a") >= 1 })
	b, _ := os.ReadFile(filepath.Join(dir, "a.runs"))
	if got, want := string(b), "0077 from supervisord\n"; got != want {
		t.Errorf("the program printed %q; want %q", got, want)
	}
}

// TestSupervisordRefusedReloadNamesTheFilesLine: a reload of a
// supervisord.conf that adds a program whose command is missing was
// refused with poold's key (watchers.ghost.cmd) and no line, where the
// start and --check name the file's line, section and option.
func TestSupervisordRefusedReloadNamesTheFilesLine(t *testing.T) {
	dir, path := supervisordSite(t, `
[program:ok]
command=sleep 3600
`)
	p := launchPoold(t, nil, dir, path, nil)
	c := dialControl(t, p)
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("[program:ghost]\ncommand=/nonexistent/bin/ghost\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	_, err = c.Do(ctx, arbiter.Request{Command: "reloadconfig", Properties: map[string]any{"waiting": true}})
	if want := "supervisord.conf:5: [program:ghost] command: /nonexistent/bin/ghost: not found"; err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "watchers.ghost") {
		t.Errorf("reloadconfig: %v\nwant it refused, saying %q", err, want)
	}
}
