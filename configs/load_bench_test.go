package configs

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkLoad5000Watchers loads a generated file of 5,000 watchers with
// no POOLD_ variable set. Building every key's variable name for the
// overrides took half of it (60,000 watchers: --check 44 s and 1.7 GB);
// it is built only when a POOLD_ variable asks (21 s and 248 MB, the rest
// mostly the TOML reader's).
func BenchmarkLoad5000Watchers(b *testing.B) {
	path := manyWatchers(b, 0)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Load(path); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoad5000WatchersEachWrong loads 5,000 watchers each with a
// value out of range: the worst case of naming each problem's line, which
// walks the file once more (5,000 problems, one walk). A file with no
// problem does not walk it.
func BenchmarkLoad5000WatchersEachWrong(b *testing.B) {
	path := manyWatchers(b, -1)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Load(path); err == nil {
			b.Fatal("Load took 5,000 negative numprocesses")
		}
	}
}

// manyWatchers writes a file of 5,000 watchers, each with numprocesses
// n, and unsets every POOLD_ variable for the benchmark; it returns the
// file's path.
func manyWatchers(b *testing.B, n int) string {
	var conf strings.Builder
	for i := range 5000 {
		fmt.Fprintf(&conf, "[watchers.w%d]\ncmd = \"/bin/sleep 1000\"\nnumprocesses = %d\n\n", i, n)
	}
	path := filepath.Join(b.TempDir(), "many.toml")
	if err := os.WriteFile(path, []byte(conf.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "POOLD_") {
			b.Setenv(name, "")
			os.Unsetenv(name)
		}
	}
	return path
}
