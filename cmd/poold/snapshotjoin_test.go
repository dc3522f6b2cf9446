package main

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/watcher/proctest"
)

// replyPids reads a list NAME reply's pids, sorted.
func replyPids(t *testing.T, r arbiter.Reply) []int {
	t.Helper()
	raw, ok := r["pids"].([]any)
	if !ok {
		t.Fatalf("list reply without pids: %v", r)
	}
	var out []int
	for _, v := range raw {
		out = append(out, int(v.(float64)))
	}
	slices.Sort(out)
	return out
}

// replySeq reads the seq and instance a snapshot reply reflects.
func replySeq(t *testing.T, cmd string, r arbiter.Reply) (uint64, string) {
	t.Helper()
	seq, ok := r["seq"].(float64)
	inst, _ := r["instance"].(string)
	if !ok || inst == "" {
		t.Fatalf("%s reply without the seq and instance it reflects: %v", cmd, r)
	}
	return uint64(seq), inst
}

// A subscriber that joins late builds its state race-free: it subscribes,
// takes a snapshot (list NAME) that says which seq it reflects, and
// applies only the events above that seq. Done while incr and decr run,
// the snapshot plus those events equals what list says at the end. Without
// a seq on the reply the join could only guess, and the history (1024
// events) does not reach back over a big reload.
func TestSnapshotJoinsEventStream(t *testing.T) {
	t.Parallel()
	p := startUpgradable(t, fmt.Sprintf(upgradeConfig, 2))
	evs := startPySub(t, "ipc://"+p.dir+"/e.sock")
	proctest.Eventually(t, "the subscriber to get events", func() bool {
		p.do("incr", map[string]any{"name": "web", "waiting": true})
		select {
		case <-evs:
			return true
		default:
			return false
		}
	})

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // churn: workers come and go while the snapshot is taken
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			cmd := "incr"
			if i%2 == 1 {
				cmd = "decr"
			}
			if _, err := p.try(cmd, map[string]any{"name": "web"}); err != nil {
				t.Errorf("%s: %v", cmd, err)
				return
			}
		}
	}()
	var snap []int
	var at uint64
	var inst string
	for range 5 { // several snapshots: each must join
		r := p.do("list", map[string]any{"name": "web"})
		snap = replyPids(t, r)
		at, inst = replySeq(t, "list web", r)
	}
	for _, cmd := range []string{"status", "stats"} {
		replySeq(t, cmd, p.do(cmd, map[string]any{"name": "web"}))
		replySeq(t, cmd, p.do(cmd, nil))
	}
	close(stop)
	wg.Wait()

	// Settled: nothing spawns or stops any more.
	var final []int
	var end uint64
	proctest.Eventually(t, "the watcher to settle", func() bool {
		r := p.do("status", map[string]any{"name": "web"})
		if r["status"] != "active" {
			return false
		}
		a := p.do("list", map[string]any{"name": "web"})
		b := p.do("list", map[string]any{"name": "web"})
		final = replyPids(t, b)
		end, _ = replySeq(t, "list web", b)
		s, _ := replySeq(t, "list web", a)
		return s == end
	})

	// Apply the events above the snapshot's seq, up to the final one.
	state := map[int]bool{}
	for _, pid := range snap {
		state[pid] = true
	}
	for last := uint64(0); last < end; {
		ev := nextEvent(t, evs)
		seq := uint64(ev.payload["seq"].(float64))
		last = seq
		if seq <= at || ev.payload["instance"] != inst {
			continue
		}
		pid, _ := ev.payload["process_pid"].(float64)
		switch ev.topic {
		case "watcher.web.spawn":
			if state[int(pid)] {
				t.Fatalf("seq %d spawns pid %d, already in the snapshot at seq %d: %v", seq, int(pid), at, snap)
			}
			state[int(pid)] = true
		case "watcher.web.exit":
			delete(state, int(pid))
		}
	}
	var built []int
	for pid := range state {
		built = append(built, pid)
	}
	slices.Sort(built)
	if !slices.Equal(built, final) {
		t.Fatalf("snapshot %v at seq %d plus the events up to seq %d gives %v; list says %v", snap, at, end, built, final)
	}
}

// nextEvent takes the subscriber's next event.
func nextEvent(t *testing.T, evs <-chan subEvent) subEvent {
	t.Helper()
	select {
	case ev := <-evs:
		return ev
	case <-time.After(hang):
		t.Fatalf("no event within %s", hang)
	}
	return subEvent{}
}
