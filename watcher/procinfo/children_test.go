package procinfo

import (
	"errors"
	"os"
	"os/exec"
	"slices"
	"testing"
)

// TestChildScanListsChildren: ChildScan lists this process's children
// (started from any of its threads), and reads a children file whole
// however small its buffer, a pid cut between two reads included.
func TestChildScanListsChildren(t *testing.T) {
	var want []int
	for range 5 {
		c := exec.Command("/bin/sleep", "3600")
		if err := c.Start(); err != nil {
			t.Fatalf("start sleep: %v", err)
		}
		t.Cleanup(func() { _ = c.Process.Kill(); _ = c.Wait() })
		want = append(want, c.Process.Pid)
	}
	for _, c := range []*ChildScan{{}, {buf: make([]byte, 3)}} {
		for round := range 2 { // the second reuses the first's buffers
			got, err := c.Append([]int{-1}, os.Getpid())
			if errors.Is(err, ErrNoChildren) && os.Getenv("CI") != "true" {
				t.Skipf("this kernel has no children files: %v", err)
			}
			if err != nil {
				t.Fatalf("round %d: Append: %v", round, err)
			}
			if got[0] != -1 {
				t.Fatalf("round %d: Append changed what out held: %v", round, got)
			}
			for _, p := range want {
				if !slices.Contains(got, p) {
					t.Errorf("round %d, buffer of %d bytes: children %v lack %d", round, len(c.buf), got, p)
				}
			}
		}
	}
}

// TestChildScanOfNoProcess: a pid that does not exist is an error, and
// out comes back as it was.
func TestChildScanOfNoProcess(t *testing.T) {
	var c ChildScan
	got, err := c.Append([]int{7}, 1<<30)
	if err == nil || !slices.Equal(got, []int{7}) {
		t.Errorf("Append of no process: %v, %v; want an error and [7]", got, err)
	}
}
