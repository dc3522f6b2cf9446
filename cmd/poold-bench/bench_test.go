package main

import (
	"context"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testBench is a bench with a live alive board and a process registry in
// a temp dir, cleaned up with the test.
func testBench(t *testing.T) *bench {
	t.Helper()
	tmp := t.TempDir()
	bd, err := listenBoard(filepath.Join(tmp, "alive.sock"))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); bd.run() }()
	procs := newReg(tmp)
	t.Cleanup(func() {
		procs.cleanup(time.Second)
		bd.close()
		<-done
	})
	return &bench{tmp: tmp, procs: procs, board: bd, res: &results{}}
}

// TestManagerExitFailsAtOnce: a manager that exits before its workers are
// alive (here a shell that prints an error and exits 3, as poold does on
// a config it refuses) fails the spawn and idle measures at once, with
// its log, not after the alive timeout (30 s + 0.1 s per worker).
func TestManagerExitFailsAtOnce(t *testing.T) {
	b := testBench(t)
	start := func(n int) (*instance, time.Time, error) {
		log := filepath.Join(b.tmp, "mgr.log")
		cmd := exec.Command("/bin/sh", "-c", "echo 'numprocesses: 1100 is over max_processes 1024' >&2; exit 3")
		f, err := os.Create(log)
		if err != nil {
			return nil, time.Time{}, err
		}
		defer f.Close()
		cmd.Stderr = f
		t0 := time.Now()
		p, err := b.procs.start("fake manager", cmd)
		if err != nil {
			return nil, t0, err
		}
		return &instance{kind: sPoold, p: p, log: log}, t0, nil
	}
	sf := &spawnFigures{map[string][]float64{}, map[string][]float64{}, map[string][]float64{}, map[string][]float64{}}
	for name, measure := range map[string]func() error{
		"spawn": func() error { return b.spawnManager(context.Background(), sPoold, start, false, 5, sf) },
		"idle":  func() error { return b.idleManager(context.Background(), sPoold, start, 5) },
	} {
		t0 := time.Now()
		err := measure()
		took := time.Since(t0)
		if err == nil {
			t.Fatalf("%s: no error for a manager that exited", name)
		}
		if took > 10*time.Second {
			t.Errorf("%s: failed after %s, want at once", name, took.Round(time.Millisecond))
		}
		for _, want := range []string{"exited", "exit status 3", "over max_processes"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %q does not say %q", name, err, want)
			}
		}
	}
}

// TestPooldConfigMaxProcesses: sizes over poold's max_processes defaults
// run (the config raises them), small ones keep the defaults.
func TestPooldConfigMaxProcesses(t *testing.T) {
	b := &bench{board: &board{path: "/x/alive.sock"}, worker: "/x/benchworker"}
	for _, c := range []struct {
		n                int
		watcher, arbiter string
	}{
		{1, "max_processes = 1024", "max_processes = 8192"},
		{1100, "max_processes = 1100", "max_processes = 8192"},
		{9000, "max_processes = 9000", "max_processes = 9000"},
	} {
		conf := b.pooldConfig("/x", c.n, 1, 2)
		arb, wat, ok := strings.Cut(conf, "[watchers.web]")
		if !ok || !strings.Contains(arb, c.arbiter+"\n") || !strings.Contains(wat, c.watcher+"\n") {
			t.Errorf("n=%d: want %q for the arbiter and %q for the watcher:\n%s", c.n, c.arbiter, c.watcher, conf)
		}
	}
}

// TestParseOptionsOnly: -only with a section that does not exist is a
// usage error naming the sections; known ones (tenk too) pass; the help
// lists every section; -h is flag.ErrHelp (main exits 0 on it).
func TestParseOptionsOnly(t *testing.T) {
	bin := t.TempDir()
	for _, f := range []string{"poold", "poolctl"} {
		if err := os.WriteFile(filepath.Join(bin, f), nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var usage strings.Builder
	for _, ok := range []string{"spawn", "spawn, reload", "upgrade", ""} {
		if _, err := parseOptions([]string{"-bin", bin, "-only", ok}, &usage); err != nil {
			t.Errorf("-only %q: %v", ok, err)
		}
	}
	if _, err := parseOptions([]string{"-bin", bin, "-only", "tenk", "-tenk", "100"}, &usage); err != nil {
		t.Errorf("-only tenk -tenk 100: %v", err)
	}
	// Without its counts, tenk ran nothing and wrote an empty table over
	// the results.
	if _, err := parseOptions([]string{"-bin", bin, "-only", "tenk"}, &usage); err == nil || !strings.Contains(err.Error(), "-tenk 1000,10000") {
		t.Errorf("-only tenk without -tenk: %v, want an error asking for -tenk", err)
	}
	_, err := parseOptions([]string{"-bin", bin, "-only", "spawn,spwan"}, &usage)
	if err == nil || !strings.Contains(err.Error(), `no section "spwan"`) || !strings.Contains(err.Error(), "spawn, idle, replace, control, reload, upgrade, tenk") {
		t.Errorf("-only spawn,spwan: error %v, want one naming spwan and the sections", err)
	}
	usage.Reset()
	if _, err := parseOptions([]string{"-h"}, &usage); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v, want flag.ErrHelp", err)
	}
	for _, s := range sections {
		if !strings.Contains(usage.String(), s) {
			t.Errorf("-h does not list section %s:\n%s", s, usage.String())
		}
	}
}

// TestNotePeers: a run without peers says so, and a run with them names
// each peer it cannot find.
func TestNotePeers(t *testing.T) {
	b := &bench{res: &results{}}
	b.notePeers()
	if len(b.res.Notes) != 1 || !strings.Contains(b.res.Notes[0], "-peers=false") {
		t.Errorf("-peers=false: notes %q", b.res.Notes)
	}
	b = &bench{o: options{peers: true}, res: &results{}}
	b.notePeers()
	for _, p := range []string{supervisordPath, gunicornPath} {
		noted := false
		for _, n := range b.res.Notes {
			noted = noted || strings.Contains(n, p+" not found")
		}
		if exists(p) == noted {
			t.Errorf("%s exists: %v, noted as left out: %v (notes %q)", p, exists(p), noted, b.res.Notes)
		}
	}
}
