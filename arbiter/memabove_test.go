package arbiter

import (
	"strings"
	"testing"

	"github.com/poold/poold/configs"
)

// Only a memory_max above the limit of poold's cgroup is warned of, and
// nothing without such a limit.
func TestMemoryMaxAbove(t *testing.T) {
	ws := []configs.Watcher{{Name: "big", MemoryMax: 1 << 30}, {Name: "fits", MemoryMax: 64 << 20}, {Name: "none"}}
	got := memoryMaxAbove(ws, 400<<20, "/c (memory limit 419430400 bytes)")
	want := "watchers.big.memory_max: 1073741824 bytes is above the memory limit of poold's cgroup /c (memory limit 419430400 bytes), " +
		"which its workers meet first (an OOM kill there may take any watcher's worker): lower memory_max below it, or raise that limit"
	if len(got) != 1 || got[0] != want {
		t.Fatalf("memoryMaxAbove = %q, want [%q]", got, want)
	}
	if got := memoryMaxAbove(ws, 0, ""); len(got) != 0 {
		t.Errorf("without a limit: %q", strings.Join(got, "; "))
	}
}
