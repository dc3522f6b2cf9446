package logsink

import (
	"fmt"
	"io"
	"maps"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/poold/poold/watcher/proctest"
)

// TestLanesLeavePooldRoom: one chatty watcher on the "stderr" sink filled
// the queue shared with poold's own records, so poold dropped its audit
// lines (6 of 40 "command received" in the review) and its errors, the
// drop report blamed a slow stderr and named no watcher, and the
// watcher's own dropped count stayed 0. Lanes may fill only part of the
// queue (all lanes 3/4, one lane 1/2): poold's records and another
// watcher's still fit, and each lane's drops are counted for it and
// named in the report.
func TestLanesLeavePooldRoom(t *testing.T) {
	g := &gated{tokens: make(chan struct{})}
	s := New(g, Options{MaxLines: 16})
	var mu sync.Mutex
	var got []Drops
	s.OnDrops(func(_ io.Writer, d Drops) {
		mu.Lock()
		got = append(got, d)
		mu.Unlock()
	})
	run(t, s)
	fmt.Fprintf(s, "stuck\n")
	proctest.Eventually(t, "the sink stuck in a write", func() bool { return s.Stats().Stalled > 0 })

	var chattyDropped, quietDropped atomic.Uint64
	chatty := s.Lane("chatty", func(n uint64, c Cause) { chattyDropped.Add(n); wantCause(t, c, QueueFull) })
	quiet := s.Lane("quiet", func(n uint64, c Cause) { quietDropped.Add(n); wantCause(t, c, QueueFull) })
	for i := range 100 {
		fmt.Fprintf(chatty, "chatty %d\n", i) // 8 fit: half of 16
	}
	for i := range 10 {
		fmt.Fprintf(quiet, "quiet %d\n", i) // 4 fit: the lanes' 12, less chatty's 8
	}
	for i := range 4 {
		fmt.Fprintf(s, "poold %d\n", i) // the 4 left: poold's own
	}
	if n := chattyDropped.Load(); n != 92 {
		t.Errorf("chatty's lane dropped %d, want 92 (8 of 100 queued)", n)
	}
	if n := quietDropped.Load(); n != 6 {
		t.Errorf("quiet's lane dropped %d, want 6 (4 of 10 queued)", n)
	}
	if st := s.Stats(); st.Dropped != 98 || st.Queued != 16 {
		t.Errorf("stats %+v, want 98 dropped and 16 queued: none of poold's records dropped", st)
	}
	g.open()
	proctest.Eventually(t, "everything queued written", func() bool { return s.Stats().Written == 17 })
	proctest.Eventually(t, "the drop report", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 1 })
	mu.Lock()
	d := got[0]
	mu.Unlock()
	want := map[string]uint64{"chatty": 92, "quiet": 6}
	if d.Lines != 98 || !maps.Equal(d.Watchers, want) || d.Failure != nil {
		t.Errorf("report %+v, want 98 lines, by watcher %v, no failure", d, want)
	}
}

func wantCause(t *testing.T, got, want Cause) {
	if got != want {
		t.Errorf("lane told cause %d, want %d", got, want)
	}
}

// TestLaneDropsOfAFailedOutputSayWhy: with poold's stderr gone (`poold
// cfg 2>&1 | head`, head exited) every lane line was dropped and told as
// a full queue, so status blamed a chatty watcher and advised a log file
// while the queue was empty. The lane is told the output failed: for the
// line whose write failed, for the lines queued behind it, and for every
// later line, and a failing write (a full disk) alike.
func TestLaneDropsOfAFailedOutputSayWhy(t *testing.T) {
	for _, tc := range []struct {
		name string
		out  func(t *testing.T) io.Writer
	}{
		{"gone", func(t *testing.T) io.Writer { r, w := pipe(t); r.Close(); return w }},
		{"failing", func(*testing.T) io.Writer { return &failing{err: syscall.ENOSPC, times: 1 << 30} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New(tc.out(t), Options{})
			run(t, s)
			var mu sync.Mutex
			told := map[Cause]uint64{}
			l := s.Lane("web", func(n uint64, c Cause) { mu.Lock(); told[c] += n; mu.Unlock() })
			for i := range 20 {
				fmt.Fprintf(l, "line %d\n", i)
			}
			proctest.Eventually(t, "every line dropped", func() bool { return s.Stats().Dropped == 20 })
			for i := range 5 {
				fmt.Fprintf(l, "later %d\n", i)
			}
			proctest.Eventually(t, "the later lines dropped", func() bool { return s.Stats().Dropped == 25 })
			mu.Lock()
			defer mu.Unlock()
			if told[OutputFailed] != 25 || told[QueueFull] != 0 {
				t.Errorf("lane told %v, want all 25 lines as the output failing (%d), none as the queue full (%d)",
					told, OutputFailed, QueueFull)
			}
		})
	}
}
