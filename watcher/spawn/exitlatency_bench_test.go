package spawn

import (
	"bufio"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// BenchmarkExitToReap times how long after a worker's exit_group its
// spawner reports it ended (OnExit): the part of a worker's end that is
// poold's, from the kernel's notice to the Proc. Each op starts a burst
// of workers, SIGTERMs them together, and each writes CLOCK_MONOTONIC
// just before its exit_group. Variants: walk (a walk per SIGCHLD, below
// exitWatchMin), pidfd (the exit watch from the first worker), and
// busy-walk / busy-pidfd, where the spawner starts workers all through
// the exits (the reaps wait behind the starts, as in a burst of
// respawns). Reported in ms over every worker: p50, p99 and max.
func BenchmarkExitToReap(b *testing.B) {
	worker := trivialWorker(b)
	const burst = 16
	for _, v := range []struct {
		name        string
		pidfd, busy bool
	}{{"walk", false, false}, {"pidfd", true, false}, {"busy-walk", false, true}, {"busy-pidfd", true, true}} {
		b.Run(v.name, func(b *testing.B) {
			s := New(self(b))
			if v.pidfd {
				s.xwMin = 1
			}
			r := runSpawnerOf(b, s)
			var lat []time.Duration
			for b.Loop() {
				stop := func() {}
				if v.busy {
					stop = keepStarting(b, r.Spawner, worker)
				}
				lat = append(lat, exitBurst(b, r.Spawner, burst)...)
				stop()
			}
			slices.Sort(lat)
			at := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))]) / 1e6 }
			b.ReportMetric(at(0.5), "p50-ms")
			b.ReportMetric(at(0.99), "p99-ms")
			b.ReportMetric(at(1), "max-ms")
		})
	}
}

// exitBurst starts n "stamp" workers, SIGTERMs them together and returns,
// for each, the time from its exit_group to its OnExit.
func exitBurst(b *testing.B, s *Spawner, n int) []time.Duration {
	type worker struct {
		p     *Proc
		out   *bufio.Reader
		ended chan int64
	}
	ws := make([]worker, n)
	for i := range ws {
		rd, wr, err := os.Pipe()
		if err != nil {
			b.Fatal(err)
		}
		p, err := s.Start(ProcSpec{Path: self(b), Argv: []string{"spawn.test"}, Env: []string{childEnv + "=stamp"}, Stdout: wr, Umask: -1})
		wr.Close()
		if err != nil {
			b.Fatal(err)
		}
		ws[i] = worker{p: p, out: bufio.NewReader(rd), ended: make(chan int64, 1)}
		p.OnExit(func(Exit, error) { ws[i].ended <- monoNow() })
		defer rd.Close()
		if line, err := ws[i].out.ReadString('\n'); !strings.HasPrefix(line, "ready ") {
			b.Fatalf("stamp worker %d: %q, %v", p.Pid, line, err)
		}
	}
	for _, w := range ws {
		_ = syscall.Kill(w.p.Pid, syscall.SIGTERM)
	}
	out := make([]time.Duration, 0, n)
	for _, w := range ws {
		line, err := w.out.ReadString('\n')
		at, perr := strconv.ParseInt(strings.TrimSpace(strings.TrimPrefix(line, "exit ")), 10, 64)
		if err != nil || perr != nil {
			b.Fatalf("stamp worker %d: %q, %v", w.p.Pid, line, err)
		}
		select {
		case reaped := <-w.ended:
			out = append(out, time.Duration(reaped-at))
		case <-time.After(hang):
			b.Fatalf("worker %d ended but was not reaped within %v", w.p.Pid, hang)
		}
	}
	return out
}

// keepStarting has s start workers that exit at once, one after another,
// until the returned stop is called (which waits for the last).
func keepStarting(b *testing.B, s *Spawner, worker string) (stop func()) {
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		spec := ProcSpec{Path: worker, Argv: []string{"exit0"}, Umask: 0o022, Listen: true}
		for {
			select {
			case <-quit:
				return
			default:
			}
			p, err := s.Start(spec)
			if err != nil {
				b.Error(err)
				return
			}
			p.Wait()
		}
	}()
	return func() { close(quit); wg.Wait() }
}

// stampExit is mode "stamp".
func stampExit() int {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM)
	fmt.Printf("ready %d\n", os.Getpid())
	<-c
	fmt.Printf("exit %d\n", monoNow())
	unix.Exit(0) // exit_group now: no exit hooks, no race detector's wait
	return 0
}

func monoNow() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}
