// Command poold-bench measures poold on this machine against a plain Go
// fork/exec loop (the floor) and against its peers: Circus 0.19 (from
// -circus, under Debian's python3) and, when installed, Debian's
// supervisord and gunicorn, in one run: spawn, replace, idle cost, control, events and
// reload under load (wrk). It prints a table, writes the figures as JSON
// and in Go's benchmark format (for benchstat), and reports every target
// poold misses.
//
//	poold-bench [-bin bin] [-out bin/bench.json] [-window 30s] ...
//
// Every worker is the same tiny HTTP server (benchworker.go.txt, built
// into a temporary directory at start). "Alive" means the worker's own
// code runs with its listener in hand: it then sends its pid and the
// time to a datagram socket of the runner. See README.md's Benchmarks
// section for what each figure means and how it is taken.
//
// Concurrency: one goroutine (run's) measures; helpers it starts (the
// alive-socket reader, one reaper per started process, short-lived HTTP
// probes) are each waited for before run returns. SIGINT/SIGTERM cancel
// the run; cleanup then stops every process the runner started, by pid:
// SIGTERM, a grace period, SIGKILL of its process group, then a sweep for
// workers a manager left behind (found by the run's private temp dir in
// their command line).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		return // -h: the usage is printed
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "poold-bench:", err)
		if errors.Is(err, context.Canceled) {
			os.Exit(130)
		}
		os.Exit(1)
	}
}

type options struct {
	bin      string
	out      string
	benchfmt string
	window   time.Duration
	kills    int
	sizes    []int
	wrkDur   time.Duration
	peers    bool
	circus   string // Circus source tarball
	reloads  int    // rolling reloads under load per manager
	// reloadWindow is how long each reload's wrk run lasts after the
	// reload command (it starts 1 s before), the same for every manager.
	reloadWindow time.Duration
	// reloadSurge and reloadDelay, when set, give poold's watcher in the
	// reload section max_surge and readiness "delay" with that ready_delay.
	reloadSurge int
	reloadDelay time.Duration
	only        string
	keep        bool
	// idleSizes are the worker counts of the idle section; scrapeEvery
	// is its scraper's period.
	idleSizes   []int
	scrapeEvery time.Duration
	// tenk are the worker counts of the -tenk section (none: skipped).
	tenk []int
	// tenkNoCgroups runs the tenk section's poold where it cannot make
	// cgroups (tenknocg.go), on its process-group path.
	tenkNoCgroups bool
}

// parseOptions reads the command line and checks that the binaries to
// measure are there.
func parseOptions(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("poold-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.bin, "bin", "bin", "directory holding poold and poolctl")
	fs.StringVar(&o.out, "out", "bin/bench.json", "JSON results file")
	fs.StringVar(&o.benchfmt, "benchfmt", "bin/bench.txt", "results in Go benchmark format (benchstat), \"\" = none")
	fs.DurationVar(&o.window, "window", 30*time.Second, "idle measurement window")
	fs.IntVar(&o.kills, "kills", 50, "kills for the replace and events figures")
	sizes := fs.String("sizes", "10,100,1000", "worker counts for spawn")
	idleSizes := fs.String("idle-sizes", "50,1000", "worker counts for idle")
	fs.DurationVar(&o.scrapeEvery, "scrape-every", 15*time.Second, "period of the idle section's /metrics scraper")
	fs.DurationVar(&o.wrkDur, "wrk", 10*time.Second, "wrk duration for reload under load")
	fs.BoolVar(&o.peers, "peers", true, "also measure Circus, supervisord and gunicorn when available")
	fs.StringVar(&o.circus, "circus", "../shared/peers/circus-0.19.0.tar.gz", "Circus 0.19 source tarball, run under /usr/bin/python3 (\"\" = leave Circus out)")
	fs.IntVar(&o.reloads, "reloads", 3, "rolling reloads under load per manager (each its own wrk run)")
	fs.DurationVar(&o.reloadWindow, "reload-window", 10*time.Second, "each reload's wrk window after the reload command (it starts 1 s before), the same for every manager: longer than the slowest manager's reload")
	fs.IntVar(&o.reloadSurge, "reload-surge", 0, "poold's max_surge in the reload section (0: poold's default, 100% of the pool)")
	fs.DurationVar(&o.reloadDelay, "reload-ready-delay", 0, "poold's readiness in the reload section: \"delay\" with this ready_delay (0: poold's default, spawn)")
	fs.StringVar(&o.only, "only", "", "comma-separated sections to run: "+strings.Join(sections, ",")+" (default all); tenk (with -tenk)")
	tenk := fs.String("tenk", "", "worker counts of the tiny-worker scale section, e.g. 1000,10000 (default: skipped)")
	fs.BoolVar(&o.tenkNoCgroups, "tenk-no-cgroups", false, "run the tenk section's poold with every cgroup filesystem read-only (a mount namespace of its own, as in a Docker container), so that it contains workers by process group (needs root and unshare(1))")
	fs.BoolVar(&o.keep, "keep", false, "keep the temp dir (configs, logs) for inspection")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if err := checkOnly(o.only); err != nil {
		return o, err
	}
	var err error
	if o.sizes, err = counts("-sizes", *sizes); err != nil {
		return o, err
	}
	if o.idleSizes, err = counts("-idle-sizes", *idleSizes); err != nil {
		return o, err
	}
	if *tenk != "" {
		if o.tenk, err = counts("-tenk", *tenk); err != nil {
			return o, err
		}
	} else if slices.Contains(strings.Split(strings.ReplaceAll(o.only, " ", ""), ","), "tenk") {
		return o, fmt.Errorf("-only %q: the tenk section needs its worker counts: add -tenk 1000,10000", o.only)
	}
	bin, err := filepath.Abs(o.bin)
	if err != nil {
		return o, err
	}
	o.bin = bin
	for _, b := range []string{"poold", "poolctl"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			return o, fmt.Errorf("%s: %w (run make build first, or pass -bin DIR)", filepath.Join(bin, b), err)
		}
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	raiseNofile()

	tmp, err := os.MkdirTemp("", "poold-bench-")
	if err != nil {
		return err
	}
	if !o.keep {
		defer os.RemoveAll(tmp)
	}
	procs := newReg(tmp)
	defer procs.cleanup(3 * time.Second)

	b := &bench{o: o, tmp: tmp, procs: procs, stderr: stderr, res: &results{
		Started: time.Now(),
		Machine: machine(),
		Settings: map[string]any{
			"idle_window": o.window.String(), "kills": o.kills, "sizes": o.sizes, "wrk_duration": o.wrkDur.String(),
			"idle_sizes": o.idleSizes, "scrape_every": o.scrapeEvery.String(), "reloads": o.reloads,
			"reload_window": o.reloadWindow.String(),
		},
	}}
	if err := b.buildWorker(ctx); err != nil {
		return err
	}
	b.setupCircus(ctx)
	b.notePeers()
	bd, err := listenBoard(filepath.Join(tmp, "alive.sock"))
	if err != nil {
		return err
	}
	b.board = bd
	boardDone := make(chan struct{})
	go func() { defer close(boardDone); bd.run() }()
	defer func() { bd.close(); <-boardDone }()

	err = b.all(ctx)
	if len(o.tenk) > 0 && ctx.Err() == nil {
		err = errors.Join(err, b.tenkSection(ctx))
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	b.res.Duration = time.Since(b.res.Started).Round(time.Second).String()
	b.res.finish()
	fmt.Fprintln(stdout)
	b.res.writeTable(stdout)
	if o.out != "" {
		if werr := b.res.writeJSON(o.out); werr != nil {
			return werr
		}
		fmt.Fprintln(stdout, "json:", o.out)
	}
	if o.benchfmt != "" {
		if werr := b.res.writeBenchfmt(o.benchfmt); werr != nil {
			return werr
		}
		fmt.Fprintln(stdout, "benchstat format:", o.benchfmt)
	}
	if o.keep {
		fmt.Fprintln(stdout, "temp dir kept:", tmp)
	}
	return err
}

// sections are the sections of a run, in order (bench.all); tenk runs
// only with -tenk.
var sections = []string{"spawn", "idle", "replace", "control", "reload", "upgrade"}

// checkOnly refuses an -only list naming a section that does not exist:
// a typo would otherwise run nothing and overwrite the results with an
// empty table.
func checkOnly(only string) error {
	if only == "" {
		return nil
	}
	known := append(slices.Clone(sections), "tenk")
	for _, s := range strings.Split(only, ",") {
		if !slices.Contains(known, strings.TrimSpace(s)) {
			return fmt.Errorf("-only %q: no section %q; the sections are %s", only, strings.TrimSpace(s), strings.Join(known, ", "))
		}
	}
	return nil
}

// counts parses a comma-separated list of positive integers.
func counts(flag, list string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%s %q: want positive integers separated by commas", flag, list)
		}
		out = append(out, n)
	}
	return out, nil
}

// raiseNofile lifts the soft RLIMIT_NOFILE to the hard limit: 1000 workers
// and their pipes need more than the usual 1024, and the managers we start
// inherit it.
func raiseNofile() {
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) == nil && rl.Cur < rl.Max {
		rl.Cur = rl.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
}
