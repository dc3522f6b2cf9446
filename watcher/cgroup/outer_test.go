package cgroup

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestOuterClaimsOnlyFreshKills: an OOM kill of a worker's child, which
// no worker's end claimed, was claimed by the next SIGKILLed worker
// however much later: an operator's kill -9 half a minute after read
// "killed by the OOM killer". A kill is claimed when counted since the
// last look, or at a look within claimWindow; once older, never.
func TestOuterClaimsOnlyFreshKills(t *testing.T) {
	dir := t.TempDir()
	set := func(kills int) {
		t.Helper()
		body := fmt.Sprintf("low 0\nhigh 0\nmax 3\noom 2\noom_kill %d\n", kills)
		if err := os.WriteFile(filepath.Join(dir, "memory.events"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "memory.max"), []byte("104857600\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	set(0)
	now := time.Unix(1000, 0)
	o := &Outer{files: []outerFile{{dir: dir, name: "memory.events", limit: "memory.max"}}, now: func() time.Time { return now }}
	o.seen = o.total()

	set(1) // a worker's child is OOM-killed; the loop's tick sees it
	o.Observe()
	now = now.Add(30 * time.Second)
	if got := o.Claim(); got != "" {
		t.Errorf("a SIGKILL 30s after an OOM kill counted then: Claim = %q, want none", got)
	}

	set(3) // two workers OOM-killed together
	for i := range 2 {
		now = now.Add(100 * time.Millisecond)
		if got := o.Claim(); got == "" {
			t.Errorf("worker %d killed with the OOM count just up by 2: Claim = none", i+1)
		}
	}
	if got := o.Claim(); got != "" {
		t.Errorf("a third SIGKILL, with both kills claimed: Claim = %q, want none", got)
	}

	set(4) // the tick looks first, then the worker's end comes in
	o.Observe()
	now = now.Add(200 * time.Millisecond)
	if got := o.Claim(); got != "poold's cgroup "+dir+" (memory limit 104857600 bytes)" {
		t.Errorf("a SIGKILL 200ms after the tick counted a kill: Claim = %q", got)
	}
}
