package main

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher/proctest"
)

// Snapshots reach the view in any order (concurrent scrapes and probes,
// the hand-over's own): the one kept never goes back to an older one.
func TestHTTPViewKeepsTheNewestSnapshot(t *testing.T) {
	v := newHTTPView(nil)
	base := time.Now()
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v.keep(&arbiter.Snapshot{Taken: base.Add(time.Duration(i) * time.Millisecond)})
		}()
	}
	wg.Wait()
	v.keep(&arbiter.Snapshot{Taken: base})
	if got := v.last.Load().Taken; !got.Equal(base.Add(49 * time.Millisecond)) {
		t.Fatalf("kept the snapshot of %v, want the newest, %v", got.Sub(base), 49*time.Millisecond)
	}
}

// A hand-over's "alive" lasts as long as the loop's own /healthz would
// call its step busy: in r67 a refused upgrade's exec step held the loop
// 41 s while poold's log called it stuck and the view answered /healthz
// ok. Here the loop is held in one step (a function run on it that
// blocks), the view begins a hand-over, and Live must turn into the
// loop's StuckError once the step is older than StuckAfter.
func TestHTTPViewAliveOnlyUntilTheLoopIsStuck(t *testing.T) {
	const bound = 2 * time.Second
	w := configs.DefaultWatcher("web")
	w.Cmd, w.Args, w.NumProcesses = "/bin/sleep", []string{"3600"}, 0
	cfg := &configs.Config{Arbiter: configs.DefaultArbiter(), Watchers: []configs.Watcher{w}}
	log := hclog.New(&hclog.LoggerOptions{Output: io.Discard})
	a := arbiter.New(cfg, arbiter.Options{Log: log, Events: events.NewBus(nil), StuckAfter: bound})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	t.Cleanup(cancel)
	release := make(chan struct{})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	t.Cleanup(free) // before the waits: a failed test must not hold the loop
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := a.Run(ctx); err != nil {
			t.Errorf("arbiter Run: %v", err)
		}
	}()
	<-a.Up()
	v := newHTTPView(a)
	held := make(chan time.Time, 1)
	if !a.OnSettled(ctx, "web", func(time.Time, bool) { held <- time.Now(); <-release }) {
		t.Fatal("OnSettled: no watcher web")
	}
	began := <-held
	v.begin(nil)
	err := v.Live(ctx)
	if time.Since(began) < bound && err != nil {
		t.Errorf("Live in a hand-over whose step is younger than %v: %v, want nil (alive)", bound, err)
	}
	var stuck *arbiter.StuckError
	proctest.Eventually(t, "Live to call the hand-over's loop stuck past StuckAfter", func() bool {
		err = v.Live(ctx)
		return errors.As(err, &stuck)
	})
	if stuck.Bound != bound || stuck.For < bound || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Live past the bound: %v (%#v), want a StuckError past %v", err, stuck, bound)
	}
	free()
	v.resume()
	proctest.Eventually(t, "Live nil once the loop answers again", func() bool { return v.Live(ctx) == nil })
}
