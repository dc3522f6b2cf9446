package cgroup

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestAppendProcs: the stats sample's read of a worker's cgroup.procs
// appends its pids, reads a list longer than its buffer whole, and
// leaves out as it was for a cgroup that is gone.
func TestAppendProcs(t *testing.T) {
	dir := t.TempDir()
	var long []int
	var text strings.Builder
	for i := range 1000 {
		long = append(long, 100000+i)
		text.WriteString(strconv.Itoa(100000+i) + "\n")
	}
	for _, tc := range []struct {
		name, text string
		want       []int
	}{
		{"two", "12\n345\n", []int{7, 12, 345}},
		{"no newline at end", "12", []int{7, 12}},
		{"empty", "", []int{7}},
		{"longer than the buffer", text.String(), append([]int{7}, long...)},
	} {
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(tc.text), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := AppendProcs([]int{7}, dir, make([]byte, 64)); !slices.Equal(got, tc.want) {
			t.Errorf("%s: AppendProcs = %v, want %v", tc.name, got, tc.want)
		}
	}
	if got := AppendProcs([]int{7}, filepath.Join(dir, "gone"), make([]byte, 64)); !slices.Equal(got, []int{7}) {
		t.Errorf("a cgroup that is gone: AppendProcs = %v, want [7]", got)
	}
}
