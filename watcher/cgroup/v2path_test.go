package cgroup

import (
	"os"
	"strings"
	"testing"
)

// TestAppendV2Path: a process's cgroup v2 path is the "0::" line of its
// /proc/PID/cgroup, whatever the buffer's size (one too small for the
// file is read whole), appended to what out held; nothing for a process
// that does not exist.
func TestAppendV2Path(t *testing.T) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	want := ""
	for line := range strings.Lines(string(b)) {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			want = strings.TrimSuffix(p, "\n")
		}
	}
	if want == "" {
		t.Fatalf("/proc/self/cgroup has no 0:: line: %q", b)
	}
	for _, size := range []int{4096, 4} {
		if got := string(AppendV2Path([]byte("x"), os.Getpid(), make([]byte, size))); got != "x"+want {
			t.Errorf("buffer of %d bytes: %q, want %q", size, got, "x"+want)
		}
	}
	if got := AppendV2Path([]byte("x"), 1<<30, make([]byte, 64)); string(got) != "x" {
		t.Errorf("no such process: %q, want out as it was", got)
	}
}
