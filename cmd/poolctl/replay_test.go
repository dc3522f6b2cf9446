package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/arbiter/controller/ctlclient"
	"github.com/poold/poold/watcher/proctest"
)

// lastSeq asks poold for the seq of its last event.
func lastSeq(t *testing.T, p *poold) uint64 {
	t.Helper()
	c, err := ctlclient.Dial(p.control)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := c.Do(ctx, arbiter.Request{Command: "events_since", Properties: map[string]any{"seq": 1 << 40, "limit": 1}})
	if err != nil || r["status"] != "ok" {
		t.Fatalf("events_since: %v %v", r, err)
	}
	return uint64(r["through"].(float64))
}

// TestEventsSinceMidBurst starts `poolctl events --since` from a seq in
// the middle of a burst of events while the burst goes on: it prints
// every event from that seq on, once, in order, then live ones.
func TestEventsSinceMidBurst(t *testing.T) {
	t.Parallel()
	p := startPoold(t)
	p.waitPids(t, 2)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 6; i++ {
			poolctl(t, "--endpoint", p.control, "incr", "web", "15")
			poolctl(t, "--endpoint", p.control, "decr", "web", "15")
		}
	}()
	var mid uint64
	proctest.Eventually(t, "the burst under way", func() bool { mid = lastSeq(t, p); return mid > 60 })
	since := mid / 2

	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	var errb bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--endpoint", p.control, "--json", "events", "--since", itoa(int(since))}, out, &errb)
	}()
	wg.Wait()
	p.ctl(t, "--waiting", "incr", "web") // one event after the burst, live
	end := lastSeq(t, p)
	var seqs []uint64
	proctest.Eventually(t, "every event up to the last printed", func() bool {
		seqs = printedSeqs(t, out.String())
		return len(seqs) > 0 && seqs[len(seqs)-1] >= end
	})
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("events --since exited %d; stderr %q", code, errb.String())
	}
	if seqs[0] != since+1 {
		t.Errorf("first event printed is #%d, want #%d", seqs[0], since+1)
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] != seqs[i-1]+1 {
			t.Fatalf("#%d follows #%d: a gap or a duplicate", seqs[i], seqs[i-1])
		}
	}
	t.Logf("printed #%d..#%d (burst at #%d when it started); stderr %q", seqs[0], seqs[len(seqs)-1], mid, errb.String())
}

func printedSeqs(t *testing.T, out string) []uint64 {
	var seqs []uint64
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var l struct{ Event struct{ Seq uint64 } }
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("not a JSON event line: %q", line)
		}
		seqs = append(seqs, l.Event.Seq)
	}
	return seqs
}
