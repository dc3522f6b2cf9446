package logsink

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/watcher/proctest"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// run starts s.Run and stops it when the test ends.
func run(t *testing.T, s *Sink) {
	t.Helper()
	go s.Run()
	t.Cleanup(func() {
		s.Close()
		select {
		case <-s.Done():
		case <-time.After(30 * time.Second):
			t.Errorf("Run did not return 30s after Close")
		}
	})
}

func pipe(t *testing.T) (r, w *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.Close()
		w.Close()
	})
	return r, w
}

// Records come out whole and in order.
func TestWritesRecordsInOrder(t *testing.T) {
	r, w := pipe(t)
	s := New(w, Options{})
	run(t, s)
	for i := range 1000 {
		fmt.Fprintf(s, "line %d\n", i)
	}
	sc := bufio.NewScanner(r)
	for i := range 1000 {
		if !sc.Scan() {
			t.Fatalf("output ended before line %d: %v", i, sc.Err())
		}
		if want := fmt.Sprintf("line %d", i); sc.Text() != want {
			t.Fatalf("got %q, want %q", sc.Text(), want)
		}
	}
	// The reader can see the last line before Run has counted it (the
	// count follows the write): wait for the count, not just the bytes.
	proctest.Eventually(t, "1000 lines counted", func() bool { return s.Stats().Written >= 1000 })
	if st := s.Stats(); st.Written != 1000 || st.Dropped != 0 {
		t.Errorf("stats %+v, want 1000 written, none dropped", st)
	}
}

// An output nobody reads: Write never blocks, the overflow is dropped and
// counted, and once the output is read again the drops are reported
// through the sink itself.
func TestFullOutputDropsAndReportsOnRecovery(t *testing.T) {
	r, w := pipe(t)
	fill(t, w)
	const queue = 64
	s := New(w, Options{MaxLines: queue})
	var reports []uint64
	var mu sync.Mutex
	s.OnDrops(func(out io.Writer, d Drops) {
		lines, total := d.Lines, d.Total
		mu.Lock()
		reports = append(reports, lines)
		mu.Unlock()
		fmt.Fprintf(out, "dropped %d lines (%d in all)\n", lines, total)
	})
	run(t, s)
	// Should the test fail with the sink stuck, the write fails (EPIPE)
	// and Run can stop.
	t.Cleanup(func() { r.Close() })
	const n = 1000
	start := time.Now()
	for i := range n {
		fmt.Fprintf(s, "line %d\n", i)
	}
	t.Logf("%d writes into a stuck output took %v", n, time.Since(start))
	var st Stats
	proctest.Eventually(t, "the sink stalled in a write", func() bool {
		st = s.Stats()
		return st.Stalled > 0
	})
	// One line is in the stalled write, the queue is full (or one short:
	// the writer took its line after the last Write), the rest is
	// dropped; nothing was written.
	if st.Written != 0 || st.Queued < queue-1 || st.Dropped+uint64(st.Queued)+1 != n {
		t.Fatalf("stats %+v after %d lines into a stuck output with a queue of %d", st, n, queue)
	}
	t.Logf("stuck: %+v", st)

	got := readUntil(t, r, "lines (")
	mu.Lock()
	defer mu.Unlock()
	if len(reports) != 1 || reports[0] != st.Dropped {
		t.Errorf("reports %v, want one of %d", reports, st.Dropped)
	}
	if want := fmt.Sprintf("dropped %d lines (%d in all)", st.Dropped, st.Dropped); !strings.Contains(got, want) {
		t.Errorf("no %q in the output", want)
	}
	// The report came right after the stalled line, ahead of the queue.
	if i, j := strings.Index(got, "line 0\n"), strings.Index(got, "dropped "); i < 0 || j != i+len("line 0\n") {
		t.Errorf("the report does not follow the stalled line at once:\n%s", got[len(got)-min(len(got), 200):])
	}
}

// fill fills the pipe w so that the next write blocks.
func fill(t *testing.T, w *os.File) {
	t.Helper()
	raw, err := w.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var size int
	var sizeErr error
	if err := raw.Control(func(fd uintptr) { size, sizeErr = unix.FcntlInt(fd, unix.F_GETPIPE_SZ, 0) }); err != nil {
		t.Fatal(err)
	}
	if sizeErr != nil {
		t.Fatalf("pipe size: %v", sizeErr)
	}
	if _, err := w.Write(make([]byte, size)); err != nil {
		t.Fatal(err)
	}
}

// readUntil reads r until marker (and the rest of its line) has come and
// returns what it read.
func readUntil(t *testing.T, r io.Reader, marker string) string {
	t.Helper()
	var b strings.Builder
	br := bufio.NewReader(r)
	done := make(chan error, 1)
	go func() {
		for {
			l, err := br.ReadString('\n')
			b.WriteString(l)
			if err != nil || strings.Contains(l, marker) {
				done <- err
				return
			}
		}
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("output ended before %q: %v", marker, err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("no %q in the output after 30s", marker)
	}
	return b.String()
}

// The reader went away (EPIPE): the output is gone for good, nothing more
// is written to it, every line is dropped and counted.
func TestClosedOutputIsGoneForGood(t *testing.T) {
	r, w := pipe(t)
	r.Close()
	out := &counting{w: w}
	s := New(out, Options{})
	run(t, s)
	io.WriteString(s, "first\n")
	proctest.Eventually(t, "the sink sees the output gone", func() bool { return s.Stats().Gone })
	for range 10 {
		io.WriteString(s, "more\n")
	}
	if st := s.Stats(); st.Dropped != 11 || st.Written != 0 {
		t.Errorf("stats %+v, want 11 dropped", st)
	}
	if n := out.n.Load(); n != 1 {
		t.Errorf("%d writes to a gone output, want 1", n)
	}
}

type counting struct {
	w io.Writer
	n atomic.Int64
}

func (c *counting) Write(p []byte) (int, error) {
	c.n.Add(1)
	return c.w.Write(p)
}

// Other errors (a full disk) cost the line, not the output.
func TestFailedWriteIsRetriedWithTheNextLine(t *testing.T) {
	out := &failing{err: syscall.ENOSPC, times: 1}
	s := New(out, Options{})
	reported := make(chan uint64, 1)
	s.OnDrops(func(_ io.Writer, d Drops) { reported <- d.Lines })
	run(t, s)
	io.WriteString(s, "lost\n")
	io.WriteString(s, "kept\n")
	select {
	case n := <-reported:
		if n != 1 {
			t.Errorf("reported %d dropped, want 1", n)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no drop report after a write succeeded")
	}
	if st := s.Stats(); st.Gone || st.Written != 1 || st.Dropped != 1 {
		t.Errorf("stats %+v, want 1 written, 1 dropped, not gone", st)
	}
}

// Close writes what is queued; later writes are dropped.
func TestCloseFlushes(t *testing.T) {
	r, w := pipe(t)
	s := New(w, Options{})
	for i := range 10 {
		fmt.Fprintf(s, "queued %d\n", i)
	}
	go s.Run()
	s.Close()
	<-s.Done()
	io.WriteString(s, "too late\n")
	w.Close()
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(got), "queued"); n != 10 || strings.Contains(string(got), "too late") {
		t.Errorf("output %q: want the 10 queued lines only", got)
	}
	if st := s.Stats(); st.Dropped != 1 {
		t.Errorf("stats %+v, want the late line dropped", st)
	}
}

// failing fails its first times writes with err.
type failing struct {
	err   error
	times int
	n     atomic.Int64
}

func (f *failing) Write(p []byte) (int, error) {
	if f.n.Add(1) <= int64(f.times) {
		return 0, f.err
	}
	return len(p), nil
}
