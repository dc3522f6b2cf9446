package workerlog

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestRetryWithinTheSecondKeepsTheCause: after a failed open, the writes
// of the next second (one open a second, ~20 writes) answered "open PATH:
// failed less than 1s ago", which named no cause; and poold reports a
// failure on whichever write comes once its minute is over, nearly always
// one of those. So a link at the path was not called a link, nor a
// missing directory missing. Every write now carries the open's own
// error, which errors.Is and IsLink see through.
func TestRetryWithinTheSecondKeepsTheCause(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	if err := os.Symlink(filepath.Join(dir, "target"), path); err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}
	l := Open(path, Rotation{}, c.now)
	defer l.Close()
	for i := range 3 { // the open, then two writes within its second
		_, err := l.Write([]byte("line\n"))
		if !IsLink(err) || !errors.Is(err, syscall.ELOOP) {
			t.Fatalf("write %d within a second of the failed open: %v (IsLink %v); want the link named", i, err, IsLink(err))
		}
		c.add(300 * time.Millisecond)
	}

	// A missing directory, found once the link is gone: ENOENT through
	// the retry too.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	c.add(time.Second)
	for i := range 2 {
		_, err := l.Write([]byte("line\n"))
		if !errors.Is(err, os.ErrNotExist) || IsLink(err) {
			t.Fatalf("write %d without a directory: %v; want ENOENT, not a link", i, err)
		}
		c.add(300 * time.Millisecond)
	}
}
