package procinfo

import (
	"os"
	"os/exec"
	"testing"
)

// A process forked after BootTicks has a StartTicks at least as large:
// what tells a worker's strays from what was running before it.
func TestStartTicksAfterBootTicks(t *testing.T) {
	before := BootTicks()
	c := exec.Command("sleep", "100")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Process.Kill(); _ = c.Wait() }()
	got, err := StartTicks(c.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if got < before {
		t.Fatalf("StartTicks of a child forked after BootTicks %d is %d", before, got)
	}
	self, err := StartTicks(os.Getpid())
	if err != nil || self > before {
		t.Fatalf("StartTicks of the test process: %d, %v; want at most %d", self, err, before)
	}
}
