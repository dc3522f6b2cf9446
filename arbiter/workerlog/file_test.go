package workerlog

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// clock is an injected clock a test moves by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// readAll concatenates the rotated files (gunzipping .gz) and the live
// file, oldest first, and returns their lines.
func readAll(t testing.TB, path string) []string {
	t.Helper()
	files, err := Rotated(path)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	read := func(name string, gz bool) {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var r io.Reader = f
		if gz {
			zr, err := gzip.NewReader(f)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			r = zr
		}
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
		if err := sc.Err(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	for _, f := range files {
		read(f.Path, f.Gzip)
	}
	if _, err := os.Stat(path); err == nil {
		read(path, false)
	}
	return lines
}

func writeLines(t testing.TB, l *File, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if _, err := fmt.Fprintf(l, "line %06d\n", i); err != nil {
			t.Fatal(err)
		}
	}
}

func checkSequence(t testing.TB, lines []string, n int) {
	t.Helper()
	if len(lines) != n {
		t.Fatalf("got %d lines, want %d", len(lines), n)
	}
	for i, l := range lines {
		if want := fmt.Sprintf("line %06d", i); l != want {
			t.Fatalf("line %d is %q, want %q", i, l, want)
		}
	}
}

func TestSizeRotationKeepsEveryLineOnceWithGzip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.log")
	l := Open(path, Rotation{MaxSize: 1000, Compress: true}, nil)
	writeLines(t, l, 0, 500) // 12 bytes a line: ~6 rotations
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ := Rotated(path)
	if len(files) < 5 {
		t.Fatalf("got %d rotated files, want >= 5", len(files))
	}
	for _, f := range files {
		if !f.Gzip {
			t.Errorf("%s is not compressed", f.Path)
		}
		st, _ := os.Stat(f.Path)
		if st == nil || st.Size() == 0 {
			t.Errorf("%s is empty", f.Path)
		}
	}
	checkSequence(t, readAll(t, path), 500)
}

func TestTimeRotationWithInjectedClock(t *testing.T) {
	c := &clock{t: time.Date(2026, 3, 1, 10, 59, 0, 0, time.UTC)}
	path := filepath.Join(t.TempDir(), "w.log")
	l := Open(path, Rotation{Period: "hourly"}, c.now)
	defer l.Close()
	writeLines(t, l, 0, 10)
	c.add(30 * time.Second) // 10:59:30: same hour
	writeLines(t, l, 10, 20)
	if files, _ := Rotated(path); len(files) != 0 {
		t.Fatalf("rotated within the hour: %v", files)
	}
	c.add(time.Minute) // 11:00:30
	writeLines(t, l, 20, 30)
	c.add(24 * time.Hour)
	writeLines(t, l, 30, 40)
	files, _ := Rotated(path)
	if len(files) != 2 {
		t.Fatalf("got %d rotated files, want 2 (one per hour boundary passed)", len(files))
	}
	if want := time.Date(2026, 3, 1, 11, 0, 30, 0, time.UTC); !files[0].Time.Equal(want) {
		t.Errorf("first rotated at %v, want %v", files[0].Time, want)
	}
	checkSequence(t, readAll(t, path), 40)
}

func TestDailyRotation(t *testing.T) {
	c := &clock{t: time.Date(2026, 3, 1, 23, 0, 0, 0, time.Local)}
	path := filepath.Join(t.TempDir(), "w.log")
	l := Open(path, Rotation{Period: "daily"}, c.now)
	defer l.Close()
	writeLines(t, l, 0, 5)
	c.add(59 * time.Minute)
	writeLines(t, l, 5, 10)
	c.add(2 * time.Minute)
	writeLines(t, l, 10, 15)
	if files, _ := Rotated(path); len(files) != 1 {
		t.Fatalf("got %d rotated files, want 1", len(files))
	}
	checkSequence(t, readAll(t, path), 15)
}

func TestKeepAndMaxAgePrune(t *testing.T) {
	c := &clock{t: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	dir := t.TempDir()
	path := filepath.Join(dir, "w.log")
	l := Open(path, Rotation{MaxSize: 24, Keep: 3}, c.now)
	for i := 0; i < 20; i++ {
		writeLines(t, l, 2*i, 2*i+2) // exactly one file of two lines each
		c.add(time.Minute)
	}
	l.Settle()
	files, _ := Rotated(path)
	if len(files) != 3 {
		t.Fatalf("keep 3: got %d rotated files", len(files))
	}
	// The newest three are kept: lines 32..37, then the live 38, 39.
	lines := readAll(t, path)
	if len(lines) != 8 || lines[0] != "line 000032" || lines[7] != "line 000039" {
		t.Fatalf("kept lines %q", lines)
	}
	l.Close()

	path2 := filepath.Join(dir, "age.log")
	l2 := Open(path2, Rotation{MaxSize: 24, MaxAge: 10 * time.Minute}, c.now)
	defer l2.Close()
	for i := 0; i < 30; i++ {
		writeLines(t, l2, 2*i, 2*i+2)
		c.add(time.Minute)
	}
	l2.Settle()
	files, _ = Rotated(path2)
	now := c.now()
	for _, f := range files {
		if now.Sub(f.Time) > 11*time.Minute {
			t.Errorf("%s is older than max_age", f.Path)
		}
	}
	if len(files) < 9 || len(files) > 11 {
		t.Fatalf("max_age 10m at one rotation a minute: got %d files", len(files))
	}
}

func TestReopenAfterExternalRename(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "w.log")
	l := Open(path, Rotation{}, nil)
	defer l.Close()
	writeLines(t, l, 0, 10)
	if err := os.Rename(path, path+".1"); err != nil { // logrotate, create mode
		t.Fatal(err)
	}
	writeLines(t, l, 10, 20) // still into the renamed file
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	writeLines(t, l, 20, 30)
	old, _ := os.ReadFile(path + ".1")
	cur, _ := os.ReadFile(path)
	all := strings.Split(strings.TrimSuffix(string(old)+string(cur), "\n"), "\n")
	checkSequence(t, all, 30)
}

func TestUnwritablePathReportsAndRecovers(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "missing", "w.log")
	c := &clock{t: time.Now()}
	l := Open(path, Rotation{}, c.now)
	defer l.Close()
	if _, err := l.Write([]byte("a\n")); err == nil {
		t.Fatal("write into a missing directory succeeded")
	} else if !strings.Contains(err.Error(), path) {
		t.Fatalf("error %q does not name %s", err, path)
	}
	if err := os.Mkdir(filepath.Join(dir, "missing"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Write([]byte("b\n")); err == nil {
		t.Fatal("retried the open at once; want at most one attempt a second")
	}
	c.add(2 * time.Second)
	if _, err := l.Write([]byte("c\n")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "c\n" {
		t.Fatalf("file holds %q", b)
	}
}

func TestRingBoundsAndMissed(t *testing.T) {
	r := NewRing(5)
	for i := 0; i < 12; i++ {
		r.Add([]Record{{Line: fmt.Sprint(i)}})
	}
	recs, last, missed := r.Since(0)
	if last != 12 || len(recs) != 5 || recs[0].Line != "7" || missed != 7 {
		t.Fatalf("since 0: %d recs from %q, last %d, missed %d", len(recs), recs[0].Line, last, missed)
	}
	recs, _, missed = r.Since(10)
	if len(recs) != 2 || missed != 0 || recs[0].Seq != 11 {
		t.Fatalf("since 10: %v missed %d", recs, missed)
	}
	r.Resize(2)
	recs, _, _ = r.Since(0)
	if len(recs) != 2 || recs[1].Line != "11" {
		t.Fatalf("after resize: %v", recs)
	}
}

func TestFormat(t *testing.T) {
	rec := &Record{Time: time.Date(2026, 3, 1, 1, 2, 3, 4000, time.UTC), Watcher: "web", Wid: 2, Pid: 42, Stream: "stderr", Line: "a \"b\"\x1b"}
	if got := string(Format{}.Append(nil, rec)); got != "a \"b\"\x1b\n" {
		t.Errorf("plain: %q", got)
	}
	if got := string(Format{Timestamps: true}.Append(nil, rec)); got != "2026-03-01T01:02:03.000004Z a \"b\"\x1b\n" {
		t.Errorf("timestamps: %q", got)
	}
	want := `{"time":"2026-03-01T01:02:03.000004Z","watcher":"web","wid":2,"pid":42,"stream":"stderr","line":"a \"b\"\u001b"}` + "\n"
	if got := string(Format{JSON: true}.Append(nil, rec)); got != want {
		t.Errorf("json:\n got %s\nwant %s", got, want)
	}
}

// TestRemovedFileIsMadeAgain: a log file removed under poold (rm, a
// clean-up script) kept taking the worker's lines, into a file no name
// leads to, filling the disk unseen until a reopen. Within reopenEvery
// of the removal the next line makes the file again at its path.
func TestRemovedFileIsMadeAgain(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "w.log")
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	l := Open(path, Rotation{}, clk.now)
	defer l.Close()
	writeLines(t, l, 0, 10)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	clk.add(reopenEvery)
	writeLines(t, l, 10, 20)
	cur, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("after rm and a second: %v, want the file made again", err)
	}
	want := ""
	for i := 10; i < 20; i++ {
		want += fmt.Sprintf("line %06d\n", i)
	}
	if string(cur) != want {
		t.Errorf("the new file holds %q, want the 10 lines written after the rm", cur)
	}
}

// A rotated file a worker replaced by a link (it may write the log's
// directory) is not compressed through it: poold would copy the target
// (any file root may read) into an archive in that directory.
func TestCompressRefusesALink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "secret")
	if err := os.WriteFile(target, []byte("root's\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(dir, "app.log.20261205T010000.000000Z")
	if err := os.Symlink(target, name); err != nil {
		t.Fatal(err)
	}
	if err := compress(name); err == nil {
		t.Fatal("compress followed a link to another file")
	}
	if _, err := os.Stat(name + ".gz"); err == nil {
		t.Fatalf("compress archived the link's target as %s.gz", name)
	}
}

// A FIFO a worker put at its log's path (it may write the log's
// directory) blocked poold's open of it until someone read the FIFO:
// that log's lines, a rotation's compression and poold's stop hung. The
// open is refused at once, the lines dropped and counted, the error
// saying what is there.
func TestFIFOAtALogPathIsRefused(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "w.log")
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	l := Open(path, Rotation{}, clk.now)
	defer l.Close()
	writeLines(t, l, 0, 1)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(path, 0o666); err != nil {
		t.Fatal(err)
	}
	clk.add(reopenEvery)
	rotated := filepath.Join(dir, "w.log.20261205T010000.000000Z")
	if err := syscall.Mkfifo(rotated, 0o666); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 2)
	go func() {
		_, err := l.Write([]byte("line after the fifo\n"))
		done <- err
	}()
	go func() { done <- compress(rotated) }()
	for range 2 {
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "a FIFO") {
				t.Errorf("open of a FIFO at a log path: %v, want it refused naming the FIFO", err)
			}
		case <-time.After(30 * time.Second):
			// Release the blocked opens so that the goroutines end.
			for _, p := range []string{path, rotated} {
				if f, err := os.OpenFile(p, os.O_RDWR, 0); err == nil {
					f.Close()
				}
			}
			t.Fatal("an open of a FIFO at a log path still blocks after 30s")
		}
	}
}
