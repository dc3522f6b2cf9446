package logsink

import (
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/poold/poold/watcher/proctest"
)

// gated is an output whose writes each wait for a token: the test decides
// when the output takes a line, as a reader slower than the workers does.
type gated struct {
	tokens chan struct{}
	mu     sync.Mutex
	lines  int
}

func (g *gated) Write(p []byte) (int, error) {
	<-g.tokens
	g.mu.Lock()
	g.lines++
	g.mu.Unlock()
	return len(p), nil
}

// open lets every later write through.
func (g *gated) open() { close(g.tokens) }

// reports collects what OnDrops was called with.
type reports struct {
	mu sync.Mutex
	n  []uint64
}

func (r *reports) hook(_ io.Writer, d Drops) {
	r.mu.Lock()
	r.n = append(r.n, d.Lines)
	r.mu.Unlock()
}

func (r *reports) get() []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]uint64(nil), r.n...)
}

// overflow has Run stuck in a write of one line while 2+extra more come:
// the queue (2 lines) takes 2, extra are dropped. One token then lets the
// stuck line out.
func overflow(t *testing.T, s *Sink, g *gated, round, extra int) {
	t.Helper()
	fmt.Fprintf(s, "round %d stuck\n", round)
	proctest.Eventually(t, "the sink stuck in a write", func() bool { return s.Stats().Stalled > 0 })
	before := s.Stats().Dropped
	for i := range 2 + extra {
		fmt.Fprintf(s, "round %d line %d\n", round, i)
	}
	if got := s.Stats().Dropped - before; got != uint64(extra) {
		t.Fatalf("round %d: %d dropped, want %d", round, got, extra)
	}
	g.tokens <- struct{}{}
}

// drain lets the 2 queued lines out and waits until written lines are in
// all.
func drain(t *testing.T, s *Sink, g *gated, written uint64) {
	t.Helper()
	g.tokens <- struct{}{}
	g.tokens <- struct{}{}
	proctest.Eventually(t, "the queue written", func() bool { return s.Stats().Written == written })
}

// TestDropReportsAreCoalesced: a worker writing faster than stderr takes
// lines fills and drains the queue thousands of times a second, and each
// drain logged "dropped log lines while stderr was blocked": 900 warnings
// in 1.4 s, a flood in the log it reports on. Now the first drops are
// reported at once and later ones together, once ReportEvery has passed,
// or when the sink closes.
func TestDropReportsAreCoalesced(t *testing.T) {
	g := &gated{tokens: make(chan struct{})}
	s := New(g, Options{MaxLines: 2, ReportEvery: time.Hour})
	var r reports
	s.OnDrops(r.hook)
	go s.Run()
	overflow(t, s, g, 1, 3)
	drain(t, s, g, 3)
	if got := r.get(); len(got) != 1 {
		t.Fatalf("reports %v, want one at once", got)
	}
	for round := 2; round <= 5; round++ {
		overflow(t, s, g, round, 4)
		drain(t, s, g, uint64(3*round))
	}
	g.open()
	proctest.Eventually(t, "every kept line written", func() bool { return s.Stats().Written >= 5*3 })
	if got := r.get(); len(got) != 1 || got[0] != 3 {
		t.Fatalf("reports %v before close, want one of 3 (the later drops held back)", got)
	}
	s.Close()
	<-s.Done()
	if got := r.get(); len(got) != 2 || got[1] != 4*4 {
		t.Fatalf("reports %v after close, want [3 16]: the held-back drops told at close", got)
	}
}

// A report held back is made when the interval is over, with no line
// written after it: a log that went quiet still learns what it lost.
func TestHeldBackDropReportComesWhenDue(t *testing.T) {
	g := &gated{tokens: make(chan struct{})}
	s := New(g, Options{MaxLines: 2, ReportEvery: 50 * time.Millisecond})
	var r reports
	s.OnDrops(r.hook)
	run(t, s)
	t.Cleanup(func() {
		select {
		case <-g.tokens:
		default:
			g.open()
		}
	})
	overflow(t, s, g, 1, 3)
	drain(t, s, g, 3)
	proctest.Eventually(t, "the first report", func() bool { return len(r.get()) == 1 })
	overflow(t, s, g, 2, 5)
	g.open()
	proctest.Eventually(t, "the held-back report", func() bool { return len(r.get()) == 2 })
	if got := r.get(); got[1] != 5 {
		t.Errorf("reports %v, want [3 5]", got)
	}
}
