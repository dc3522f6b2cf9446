// Command poold-soak runs the real poold binary for a few minutes under
// the conditions that used to kill or wedge it, and prints its fds,
// threads and RSS before, at their peak and after.
//
//	poold-soak [-bin bin] [-duration 3m] [-keep]
//
// Two poolds run side by side. The main one gets SIGKILL of a random
// worker in a loop; incr/decr cycles of a watcher well past the pids.max
// of the cgroup it runs in (needs root and cgroup v1's pids controller at
// /sys/fs/cgroup/pids; skipped, with the reason, else); and connections
// to its control endpoint that never say a word, held while probes dial
// in and ask for status. The other one logs into a pipe nobody reads
// (its stderr), with chatty workers, SIGKILL churn and the same probes.
//
// It is a program rather than a test so that it runs the same non-race,
// statically linked bin/poold that users run, for as long as asked, and
// prints figures instead of pass/fail on timings; `make soak` runs it,
// `make test` does not. It exits 1 when a poold crashed, did not stop
// with status 0 on SIGTERM, or left a process behind.
//
// Concurrency: run starts one goroutine per instance, which starts one per
// scenario, and each waits for those it started before it returns. Every
// process the soak starts (two poolds; poold starts the workers) is
// stopped by pid: SIGTERM, a grace period, SIGKILL; workers die with
// poold (parent-death signal), and whatever is left in a cgroup the soak
// made is killed by pid from its cgroup.procs.
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
	"sync"
	"syscall"
	"time"
)

// workerEnv makes this binary play a chatty worker (helper-process
// pattern): a log line every few milliseconds on stdout.
const workerEnv = "POOLD_SOAK_WORKER"

func main() {
	if os.Getenv(workerEnv) == "chatty" {
		chatty()
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "poold-soak:", err)
		os.Exit(1)
	}
}

// chatty writes a log line every 2ms until killed.
func chatty() {
	tick := time.NewTicker(2 * time.Millisecond)
	for i := 0; ; i++ {
		fmt.Printf("chatty worker %d: line %d, padded to fill pipes faster ..........\n", os.Getpid(), i)
		<-tick.C
	}
}

type options struct {
	bin      string
	duration time.Duration
	keep     bool
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("poold-soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.bin, "bin", "bin", "directory holding poold")
	fs.DurationVar(&o.duration, "duration", 3*time.Minute, "how long the scenarios run")
	fs.BoolVar(&o.keep, "keep", false, "keep the temp dir (configs, logs) for inspection")
	if err := fs.Parse(args); err != nil {
		return err
	}
	poold, err := filepath.Abs(filepath.Join(o.bin, "poold"))
	if err != nil {
		return err
	}
	if _, err := os.Stat(poold); err != nil {
		return fmt.Errorf("%w: run `make build` first, or pass -bin", err)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "poold-soak-")
	if err != nil {
		return err
	}
	if !o.keep {
		defer os.RemoveAll(dir)
	}
	fmt.Fprintf(stdout, "poold-soak: %s for %v (configs and logs in %s)\n", poold, o.duration, dir)

	var (
		wg      sync.WaitGroup
		reports = make([]*report, 2)
		errs    = make([]error, 2)
	)
	wg.Add(2)
	go func() {
		defer wg.Done()
		reports[0], errs[0] = soakMain(ctx, poold, filepath.Join(dir, "main"), o.duration)
	}()
	go func() {
		defer wg.Done()
		reports[1], errs[1] = soakStuck(ctx, poold, self, filepath.Join(dir, "stuck"), o.duration)
	}()
	wg.Wait()
	for _, r := range reports {
		if r != nil {
			r.print(stdout)
		}
	}
	return errors.Join(errs...)
}
