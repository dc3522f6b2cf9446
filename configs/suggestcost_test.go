package configs

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestManyUnknownKeysCost: each unknown key is compared with every valid
// one for a suggestion, and each comparison built a fresh
// strings.Replacer, the costliest part: a file with 200,000 unknown keys
// (3 MB) kept 'poold --check' (or a reload) busy for minutes. Counted in
// allocations per unknown key, which do not depend on the machine's load.
func TestManyUnknownKeysCost(t *testing.T) {
	var b strings.Builder
	b.WriteString("[watchers.w]\ncmd = \"sleep\"\n")
	const n = 500
	for i := range n {
		fmt.Fprintf(&b, "unknown_key_%d = 1\n", i)
	}
	p := filepath.Join(t.TempDir(), "many.toml")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	var err error
	allocs := testing.AllocsPerRun(1, func() { _, err = Load(p) })
	if err == nil || strings.Count(err.Error(), "unknown key") != n {
		t.Fatalf("Load: want %d unknown keys, got %v", n, err)
	}
	if per := allocs / n; per > 1000 {
		t.Errorf("Load made %.0f allocations per unknown key, want at most 1000", per)
	}
}

// TestLongUnknownKeyCost: the suggestion for an unknown key built an
// edit-distance matrix of its length times each valid key's: a 10 MB key
// took 2 GB and minutes. A key longer than any valid one by more than a
// suggestion's reach is compared with none.
func TestLongUnknownKeyCost(t *testing.T) {
	key := strings.Repeat("k", 1<<20)
	p := filepath.Join(t.TempDir(), "long.toml")
	if err := os.WriteFile(p, []byte("[watchers.w]\ncmd = \"sleep\"\n"+key+" = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := Load(p)
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "unknown key; valid keys:") {
		t.Fatalf("Load = %.200v, want an unknown key", err)
	}
	if mb := (after.TotalAlloc - before.TotalAlloc) >> 20; mb > 64 {
		t.Errorf("Load allocated %d MB for a 1 MB unknown key, want at most 64", mb)
	}
}
