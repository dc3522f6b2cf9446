package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/poold/poold/arbiter/controller/ctlclient"
)

// room is how many pids over what poold and its churn workers use the
// main instance's pids.max allows; the scale loop asks for far more.
const room = 40

// report is what one instance's soak prints.
type report struct {
	title               string
	before, peak, after figures
	lines               []string
}

func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, "\n== %s\n", r.title)
	fmt.Fprintf(w, "   before  %v\n   peak    %v\n   after   %v\n", r.before, r.peak, r.after)
	for _, l := range r.lines {
		if l != "" {
			fmt.Fprintf(w, "   %s\n", l)
		}
	}
}

// scenarios runs each f on a goroutine of its own until ctx ends, waits
// for all, and returns their report lines in order.
func scenarios(ctx context.Context, fs ...func(context.Context) string) []string {
	lines := make([]string, len(fs))
	var wg sync.WaitGroup
	for i, f := range fs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lines[i] = f(ctx)
		}()
	}
	wg.Wait()
	return lines
}

const mainConfig = `
[arbiter]
endpoint = ENDPOINT
pubsub_endpoint = "ipc://%[1]s/e.sock"
stats_endpoint = "ipc://%[1]s/s.sock"

[watchers.churn]
cmd = "/bin/sh"
args = ["-c", "echo started $$; exec sleep 3600"]
numprocesses = 10
backoff_min = "50ms"
backoff_max = "1s"
backoff_reset = "100ms"
flapping_attempts = 0
graceful_timeout = "2s"

[watchers.flood]
cmd = "sleep"
args = ["3600"]
numprocesses = 0
backoff_min = "100ms"
backoff_max = "2s"
flapping_attempts = 0
graceful_timeout = "2s"
`

// soakMain: churn, incr/decr past a pids limit, silent peers and probes
// against one poold whose log is read.
func soakMain(ctx context.Context, poold, dir string, d time.Duration) (r *report, err error) {
	r = &report{title: "main: SIGKILL churn, incr/decr, 32 silent peers, probes"}
	cg, cgErr := newCgroup("main", "max")
	if cgErr != nil {
		r.lines = append(r.lines, "pids limit: skipped: "+cgErr.Error())
		cg = nil
	} else {
		defer func() { err = errors.Join(err, cg.remove()) }()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "poold.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	in, err := startPoold("main", poold, dir, fmt.Sprintf(mainConfig, dir), logf, cg)
	if err != nil {
		return nil, err
	}
	c, err := in.dial(ctx, 30*time.Second)
	if err == nil {
		defer c.Close()
		err = waitPids(ctx, c, "churn", 10, 30*time.Second)
	}
	if err != nil {
		return r, errors.Join(err, in.stop(20*time.Second))
	}
	nb := 20
	if cg != nil {
		cur, err := cg.readInt("pids.current")
		if err == nil {
			err = cg.write("pids.max", strconv.Itoa(cur+room))
		}
		if err != nil {
			return r, errors.Join(err, in.stop(20*time.Second))
		}
		nb = room + 20
		r.title += fmt.Sprintf(", pids.max %d (%d in use)", cur+room, cur)
	}
	r.before, _ = measure(in.pid())
	r.peak = r.before
	unanswered := 0
	runCtx, cancel := context.WithTimeout(ctx, d)
	r.lines = append(r.lines, scenarios(runCtx,
		func(ctx context.Context) string { return killLoop(ctx, in, c, "churn", 200*time.Millisecond) },
		func(ctx context.Context) string { return scaleLoop(ctx, c, "flood", nb, 5*time.Second) },
		func(ctx context.Context) string { return silentPeers(ctx, in, 32) },
		func(ctx context.Context) string { return probeLoop(ctx, in, 500*time.Millisecond, &unanswered) },
		func(ctx context.Context) string { sampleLoop(ctx, in.pid(), &r.peak); return "" },
	)...)
	cancel()
	err = settleAndStop(ctx, r, &r.after, in, c, map[string]int{"churn": 10, "flood": 0})
	return r, errors.Join(err, unansweredErr("main", unanswered))
}

// settleAndStop waits for the watchers to be back at their sizes,
// measures into after, and stops poold.
func settleAndStop(ctx context.Context, r *report, after *figures, in *instance, c *ctlclient.Client, sizes map[string]int) error {
	var errs []error
	for name, n := range sizes {
		if err := waitPids(ctx, c, name, n, time.Minute); err != nil {
			errs = append(errs, err)
		}
	}
	*after, _ = measure(in.pid())
	err := in.stop(20 * time.Second)
	if err == nil {
		r.lines = append(r.lines, "stop: SIGTERM -> exit 0")
	}
	return errors.Join(append(errs, err)...)
}

const stuckConfig = `
[arbiter]
endpoint = ENDPOINT
pubsub_endpoint = "ipc://%[1]s/e.sock"
stats_endpoint = "ipc://%[1]s/s.sock"

[watchers.chatty]
cmd = %[2]q
env = ["POOLD_SOAK_WORKER=chatty"]
numprocesses = 4
backoff_min = "50ms"
backoff_max = "1s"
backoff_reset = "100ms"
flapping_attempts = 0
graceful_timeout = "2s"
`

// soakStuck: a poold whose stderr is a pipe nobody reads, with chatty
// workers, SIGKILL churn and probes. The pipe is drained only to stop it.
func soakStuck(ctx context.Context, poold, self, dir string, d time.Duration) (r *report, err error) {
	r = &report{title: "stuck: stderr into a pipe nobody reads, 4 chatty workers, SIGKILL churn, probes"}
	cg, cgErr := newCgroup("stuck", "max")
	if cgErr != nil {
		cg = nil
	} else {
		defer func() { err = errors.Join(err, cg.remove()) }()
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer pr.Close()
	in, err := startPoold("stuck", poold, dir, fmt.Sprintf(stuckConfig, dir, self), pw, cg)
	pw.Close()
	if err != nil {
		return nil, err
	}
	drained := make(chan struct{})
	defer func() { <-drained }()
	drain := sync.OnceFunc(func() {
		go func() {
			defer close(drained)
			io.Copy(io.Discard, pr) // until poold and its workers have exited
		}()
	})
	defer drain()
	c, err := in.dial(ctx, 30*time.Second)
	if err == nil {
		defer c.Close()
		err = waitPids(ctx, c, "chatty", 4, 30*time.Second)
	}
	if err != nil {
		drain()
		return r, errors.Join(err, in.stop(20*time.Second))
	}
	r.before, _ = measure(in.pid())
	r.peak = r.before
	unanswered := 0
	runCtx, cancel := context.WithTimeout(ctx, d)
	r.lines = append(r.lines, scenarios(runCtx,
		func(ctx context.Context) string { return killLoop(ctx, in, c, "chatty", 500*time.Millisecond) },
		func(ctx context.Context) string { return probeLoop(ctx, in, 500*time.Millisecond, &unanswered) },
		func(ctx context.Context) string { sampleLoop(ctx, in.pid(), &r.peak); return "" },
	)...)
	cancel()
	r.after, _ = measure(in.pid())
	drain()
	var drainedFig figures
	err = settleAndStop(ctx, r, &drainedFig, in, c, map[string]int{"chatty": 4})
	r.lines = append(r.lines, fmt.Sprintf("after: measured with the pipe still stuck; once drained: %v", drainedFig))
	return r, errors.Join(err, unansweredErr("stuck", unanswered))
}

func unansweredErr(name string, n int) error {
	if n == 0 {
		return nil
	}
	return fmt.Errorf("%s: %d status probes got no answer: poold stopped serving its control endpoint", name, n)
}
