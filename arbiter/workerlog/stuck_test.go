package workerlog

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A rotation whose rename fails while the file is still there (poold not
// root and the log's directory made read-only; here a directory at the
// rotated name, which fails the rename for root too) used to close the
// file, fail the rename, open the same file again and write: at every
// batch from then on, silently, while the file grew past log_max_size.
// Now the file stays open and takes its lines, the failure is told once
// (RotateFailure), the rotation is tried again a second later, and it
// happens once the cause is gone.
func TestFailedRotationKeepsTheFileAndSaysSo(t *testing.T) {
	c := &clock{t: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}
	path := filepath.Join(t.TempDir(), "w.log")
	l := Open(path, Rotation{MaxSize: 100}, c.now)
	defer l.Close()
	blocker := path + "." + c.now().Format(stampLayout)
	if err := os.Mkdir(blocker, 0o755); err != nil {
		t.Fatal(err)
	}
	writeLines(t, l, 0, 8) // 96 bytes: no rotation yet
	open := l.f
	writeLines(t, l, 8, 20) // due at 108: the rename fails
	if l.f != open {
		t.Fatal("the file was closed and opened again after its rotation failed")
	}
	err := l.RotateFailure()
	if !errors.Is(err, fs.ErrExist) || !strings.Contains(err.Error(), path) {
		t.Fatalf("RotateFailure = %v, want the rename's failure naming %s", err, path)
	}
	if err := l.RotateFailure(); err != nil {
		t.Fatalf("RotateFailure told the same failure twice: %v", err)
	}
	c.add(500 * time.Millisecond)
	writeLines(t, l, 20, 30)
	if err := l.RotateFailure(); err != nil || l.f != open {
		t.Fatalf("rotation tried again within a second of its failure (err %v, reopened %v)", err, l.f != open)
	}
	if err := os.Remove(blocker); err != nil {
		t.Fatal(err)
	}
	c.add(500 * time.Millisecond)
	writeLines(t, l, 30, 35)
	if files, _ := Rotated(path); len(files) != 1 {
		t.Fatalf("got %d rotated files once the rename could work, want 1", len(files))
	}
	if err := l.RotateFailure(); err != nil {
		t.Fatalf("a rotation that worked reported %v", err)
	}
	checkSequence(t, readAll(t, path), 35)
}

// A write stuck in write(2) (a frozen filesystem, a hung NFS server)
// holds the file's lock. SetRotation, which poold's loop calls for every
// worker it starts on the file, waited for that lock: one respawn or incr
// of the watcher wedged poold, every command unanswered, until the disk
// came back. It must return at once, and the settings apply from the
// next write.
func TestSetRotationDoesNotWaitForAStuckWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.log")
	l := Open(path, Rotation{}, nil)
	defer l.Close()
	writeLines(t, l, 0, 10) // 120 bytes
	l.mu.Lock()             // a write in progress that does not return
	set := make(chan struct{})
	go func() {
		defer close(set)
		l.SetRotation(Rotation{MaxSize: 100})
	}()
	select {
	case <-set:
		l.mu.Unlock()
	case <-time.After(10 * time.Second):
		l.mu.Unlock()
		<-set
		t.Fatal("SetRotation waited for the write in progress")
	}
	writeLines(t, l, 10, 11)
	if files, _ := Rotated(path); len(files) != 1 {
		t.Fatalf("got %d rotated files after the new max size, want 1", len(files))
	}
	checkSequence(t, readAll(t, path), 11)
}
