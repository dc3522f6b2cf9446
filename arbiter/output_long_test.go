package arbiter

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
)

// A line of exactly 64 KiB, or a multiple, is kept in pieces of 64 KiB
// with no empty line after them: only a longer line is split, and its
// newline ends its last piece.
func TestLongLinesSplitWithoutEmptyLines(t *testing.T) {
	const k64 = 64 * 1024
	for _, tc := range []struct {
		name  string
		line  string
		lines []int // lengths of the lines kept, "next" included
	}{
		{"64 KiB", strings.Repeat("a", k64) + "\n", []int{k64, 4}},
		{"64 KiB with CRLF", strings.Repeat("a", k64) + "\r\n", []int{k64, 4}},
		{"128 KiB", strings.Repeat("b", 2*k64) + "\n", []int{k64, k64, 4}},
		{"64 KiB + 1", strings.Repeat("c", k64+1) + "\n", []int{k64, 1, 4}},
		{"64 KiB - 1", strings.Repeat("d", k64-1) + "\n", []int{k64 - 1, 4}},
		{"empty line after 64 KiB kept", strings.Repeat("e", k64) + "\n\n", []int{k64, 0, 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "out.log")
			spec := configs.DefaultWatcher("long")
			spec.Logs.Stdout, spec.Logs.Stderr = path, configs.LogToNone
			o := newOutput(hclog.NewNullLogger(), true, events.NewBus(nil))
			outR, outW, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			errR, errW, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			o.follow(spec, 1, 4242, outR, errR)
			if _, err := outW.WriteString(tc.line + "next\n"); err != nil {
				t.Fatal(err)
			}
			outW.Close()
			errW.Close()
			o.close(hang)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			for _, l := range strings.SplitAfter(string(b), "\n") {
				if l != "" {
					got = append(got, len(strings.TrimSuffix(l, "\n")))
				}
			}
			recs, _, _ := o.lookup("long").ring.Since(0)
			var ring []int
			for _, r := range recs {
				ring = append(ring, len(r.Line))
			}
			if !slices.Equal(got, tc.lines) || !slices.Equal(ring, tc.lines) {
				t.Errorf("line lengths in the file %v, in the ring %v, want %v", got, ring, tc.lines)
			}
		})
	}
}
