package workerlog

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A file OpenUmask creates has mode 0666 less the umask, exactly (not
// less poold's too), and the file a rotation makes keeps it; Open's is
// 0666 less poold's umask.
func TestCreatedFileModeFollowsTheUmask(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := func() time.Time { return now }
	for _, tc := range []struct {
		name string
		f    *File
		want os.FileMode
	}{
		{"u077", OpenUmask(filepath.Join(dir, "u077.log"), Rotation{MaxSize: 8}, 0o077, clock), 0o600},
		{"u002", OpenUmask(filepath.Join(dir, "u002.log"), Rotation{MaxSize: 8}, 0o002, clock), 0o664},
		{"poold", Open(filepath.Join(dir, "poold.log"), Rotation{MaxSize: 8}, clock), 0o666 &^ ownUmask(t)},
	} {
		for _, line := range []string{"first\n", "second\n"} { // the second rotates
			if _, err := tc.f.Write([]byte(line)); err != nil {
				t.Fatal(err)
			}
			now = now.Add(time.Second)
		}
		if err := tc.f.Close(); err != nil {
			t.Fatal(err)
		}
		matches, _ := filepath.Glob(tc.f.Path() + "*")
		if len(matches) != 2 {
			t.Fatalf("%s: files %v, want the file and one rotated", tc.name, matches)
		}
		for _, m := range matches {
			if fi, err := os.Stat(m); err != nil || fi.Mode().Perm() != tc.want {
				t.Errorf("%s: %v, %v; want mode %04o", m, fi.Mode(), err, tc.want)
			}
		}
	}
}

// ownUmask reads the test process's umask from /proc (without setting it).
func ownUmask(t *testing.T) os.FileMode {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Umask:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32)
			if err != nil {
				t.Fatal(err)
			}
			return os.FileMode(n)
		}
	}
	t.Fatal("no Umask line in /proc/self/status")
	return 0
}
