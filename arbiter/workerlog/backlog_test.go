package workerlog

import (
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestBacklogCompressesOnlyWhatIsKept: a worker that writes faster than
// gzip compresses (50 MB/s of random text, 20 MB files, keep 3) queued
// one compression per rotation, each compressing its file and then
// pruning: the prune counted the newer plain files and removed the fresh
// .gz as the oldest, so no .gz ever survived, the CPU went to archives
// deleted at once and the disk held 4 to 8 rotated files. A rotation's
// mill now prunes first and compresses its file only if it is kept.
//
// The mill is held (as by a long compression) while five rotations
// happen; with keep 2, only the newest two may be compressed.
func TestBacklogCompressesOnlyWhatIsKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	c := &clock{t: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}
	l := Open(path, Rotation{MaxSize: 12, Keep: 2, Compress: true}, c.now)
	var mu sync.Mutex
	var compressed []string
	l.onCompress = func(name string) {
		mu.Lock()
		compressed = append(compressed, filepath.Base(name))
		mu.Unlock()
	}
	writeLines(t, l, 0, 1) // the first open's own mill, with nothing to do
	l.Settle()
	l.millMu.Lock()
	for i := 1; i <= 5; i++ {
		c.add(time.Second)
		writeLines(t, l, i, i+1) // a line of 12 bytes: past 12, rotates once
	}
	files, err := Rotated(path)
	if err != nil || len(files) != 5 {
		l.millMu.Unlock()
		t.Fatalf("rotated files %v (%v), want 5 waiting for the mill", files, err)
	}
	newest := []string{filepath.Base(files[3].Path), filepath.Base(files[4].Path)}
	l.millMu.Unlock()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(compressed)
	if !slices.Equal(compressed, newest) {
		t.Errorf("compressed %q, want only the kept %q", compressed, newest)
	}
	files, _ = Rotated(path)
	if len(files) != 2 || !files[0].Gzip || !files[1].Gzip {
		t.Errorf("left %+v, want the newest two, compressed", files)
	}
}
