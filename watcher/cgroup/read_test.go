package cgroup

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// readStatus gives a file's whole text, also one longer than its array
// (read again whole) and an empty one, and a missing file's error is
// os.ErrNotExist's, which Populated takes for an empty cgroup.
func TestReadStatusReadsWholeFiles(t *testing.T) {
	dir := t.TempDir()
	long := strings.Repeat("x 1\n", statusMax) + "oom_kill 7\n"
	for name, text := range map[string]string{
		"small": "populated 1\nfrozen 0\n",
		"exact": strings.Repeat("y", statusMax),
		"long":  long,
		"empty": "",
	} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		var buf [statusMax]byte
		b, err := readStatus(path, &buf)
		if err != nil || string(b) != text {
			t.Errorf("%s: readStatus = %d bytes, %v; want %d bytes", name, len(b), err, len(text))
		}
	}
	var buf [statusMax]byte
	_, err := readStatus(filepath.Join(dir, "gone"), &buf)
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "gone") {
		t.Fatalf("missing file: err = %v, want one that is os.ErrNotExist and names the file", err)
	}
	if full, err := (&Group{Dir: filepath.Join(dir, "gone")}).Populated(); full || err != nil {
		t.Fatalf("Populated of a removed cgroup = %v, %v; want false, nil", full, err)
	}
	if n := keyed([]byte(long), "oom_kill"); n != 7 {
		t.Fatalf("keyed of the long file = %d, want 7", n)
	}
}

func TestKeyed(t *testing.T) {
	for _, c := range []struct {
		text, key string
		want      int
	}{
		{"oom 2\noom_kill 5\n", "oom_kill", 5},
		{"oom_kill 5\noom 2\n", "oom", 2},
		{"max 3", "max", 3}, // no final newline
		{"populated 1\nfrozen 0\n", "populated", 1},
		{"populated 0\n", "frozen", 0}, // missing
		{"oom_kill_disable 0\noom_kill 4\n", "oom_kill", 4},
		{"under_oom 0\noom_kill 9 \n", "oom_kill", 9}, // trailing space
		{"", "max", 0},
	} {
		if got := keyed([]byte(c.text), c.key); got != c.want {
			t.Errorf("keyed(%q, %q) = %d, want %d", c.text, c.key, got, c.want)
		}
	}
}

// BenchmarkStatusRead compares os.ReadFile with readStatus on a worker
// cgroup's cgroup.events (what a worker's exit reads first), and on a
// file the cgroup lacks (memory.events without the memory controller).
func BenchmarkStatusRead(b *testing.B) {
	tr, _, err := Open(TreePrefix+"bench-read", 0)
	if err != nil {
		b.Skipf("no cgroup tree here: %v", err)
	}
	defer tr.Close()
	g, err := tr.NewGroup("bench", 1, Limits{})
	if err != nil {
		b.Fatal(err)
	}
	defer g.Remove()
	g.CloseFD()
	for _, name := range []string{"cgroup.events", "missing.events"} {
		path := filepath.Join(g.Dir, name)
		b.Run(name+"/ReadFile", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = os.ReadFile(path)
			}
		})
		b.Run(name+"/readStatus", func(b *testing.B) {
			b.ReportAllocs()
			var buf [statusMax]byte
			for b.Loop() {
				_, _ = readStatus(path, &buf)
			}
		})
	}
}
