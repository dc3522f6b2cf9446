package logsink

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/watcher/proctest"
)

// disk is an output of limited room, like stderr redirected to a file on
// a full disk: a write takes what fits and fails with ENOSPC.
type disk struct {
	mu   sync.Mutex
	room int
	buf  bytes.Buffer
}

func (d *disk) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := min(len(p), d.room)
	d.buf.Write(p[:n])
	d.room -= n
	if n < len(p) {
		return n, syscall.ENOSPC
	}
	return n, nil
}

func (d *disk) free(n int) {
	d.mu.Lock()
	d.room += n
	d.mu.Unlock()
}

func (d *disk) String() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.buf.String()
}

// After a short write (disk full), the next record starts on a line of
// its own instead of being glued onto the cut one, and the drop report
// gives the write error as the cause, not a blocked output.
func TestShortWriteLeavesRecordsOnTheirOwnLines(t *testing.T) {
	out := &disk{room: len("first line\n") + len("second rec")}
	s := New(out, Options{})
	type report struct {
		lines uint64
		cause error
	}
	reported := make(chan report, 1)
	s.OnDrops(func(w io.Writer, d Drops) {
		lines, cause := d.Lines, d.Failure
		fmt.Fprintf(w, "dropped %d: %v\n", lines, cause)
		reported <- report{lines, cause}
	})
	run(t, s)
	io.WriteString(s, "first line\n")
	io.WriteString(s, "second record, cut by the full disk\n")
	proctest.Eventually(t, "both records written or dropped", func() bool {
		st := s.Stats()
		return st.Written+st.Dropped == 2
	})
	out.free(1 << 20)
	io.WriteString(s, "third\n")
	var r report
	select {
	case r = <-reported:
	case <-time.After(30 * time.Second):
		t.Fatal("no drop report after the disk had room again")
	}
	if r.lines != 1 || !errors.Is(r.cause, syscall.ENOSPC) {
		t.Errorf("report: %d lines dropped because of %v, want 1 and ENOSPC", r.lines, r.cause)
	}
	s.Close()
	<-s.Done()
	got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	want := []string{"first line", "second rec", "third", "dropped 1: no space left on device"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("output lines %q, want %q", got, want)
	}
	if s.Failure() != nil {
		t.Errorf("failure %v after the report, want nil", s.Failure())
	}
}

// Lines dropped only because the queue was full have no write error.
func TestQueueFullDropsHaveNoFailure(t *testing.T) {
	s := New(io.Discard, Options{MaxLines: 1})
	io.WriteString(s, "queued\n")
	io.WriteString(s, "dropped: the queue holds one\n")
	reported := make(chan error, 1)
	s.OnDrops(func(_ io.Writer, d Drops) { reported <- d.Failure })
	run(t, s)
	select {
	case err := <-reported:
		if err != nil {
			t.Errorf("failure %v, want nil for a full queue", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no drop report")
	}
}
