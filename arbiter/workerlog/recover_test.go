package workerlog

import (
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A poold that re-executed itself (upgrade) or died while it gzipped a
// rotated file left that file uncompressed and a NAME.STAMP.gz.tmp that
// nothing listed, kept or removed. The next open of the log finishes the
// job: the stale temporary files go, the rotated files left plain are
// compressed, and pruning counts them.
func TestOpenRecoversAnInterruptedCompression(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	stamp := func(min int) string {
		return time.Date(2026, 3, 1, 10, min, 0, 0, time.UTC).Format(stampLayout)
	}
	files := map[string]string{
		"app.log." + stamp(1) + ".gz.tmp":   "half a gzip", // an older leftover
		"app.log." + stamp(2) + ".gz":       "",            // pruned: keep 2
		"app.log." + stamp(3):               "third\n",     // compression killed midway
		"app.log." + stamp(3) + ".gz.tmp":   "half a gzip",
		"app.log." + stamp(4):               "fourth\n",
		"other.log." + stamp(3) + ".gz.tmp": "not ours",
		"app.log.notes.gz.tmp":              "not a rotated name",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c := &clock{t: time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC)}
	l := Open(path, Rotation{Compress: true, Keep: 2}, c.now)
	if _, err := l.Write([]byte("live\n")); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	var left []string
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		left = append(left, e.Name())
	}
	want := []string{
		"app.log",
		"app.log." + stamp(3) + ".gz",
		"app.log." + stamp(4) + ".gz",
		"app.log.notes.gz.tmp",
		"other.log." + stamp(3) + ".gz.tmp",
	}
	if len(left) != len(want) {
		t.Fatalf("files left %q, want %q", left, want)
	}
	for i := range want {
		if left[i] != want[i] {
			t.Fatalf("files left %q, want %q", left, want)
		}
	}
	for name, body := range map[string]string{"app.log." + stamp(3) + ".gz": "third\n", "app.log." + stamp(4) + ".gz": "fourth\n"} {
		if got := gunzip(t, filepath.Join(dir, name)); got != body {
			t.Errorf("%s holds %q, want %q", name, got, body)
		}
	}
}

// Without log_compress a leftover .gz.tmp goes all the same, and the
// rotated files stay as they are.
func TestOpenRemovesStaleTempWithoutCompress(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	stamp := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC).Format(stampLayout)
	for name, body := range map[string]string{"app.log." + stamp: "x\n", "app.log." + stamp + ".gz.tmp": "half"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	l := Open(path, Rotation{}, nil)
	if _, err := l.Write([]byte("live\n")); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if _, err := os.Stat(filepath.Join(dir, "app.log."+stamp+".gz.tmp")); !os.IsNotExist(err) {
		t.Errorf("stale .gz.tmp still there: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "app.log."+stamp)); err != nil || string(b) != "x\n" {
		t.Errorf("rotated file changed: %q, %v", b, err)
	}
}

func gunzip(t *testing.T, name string) string {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return string(b)
}
