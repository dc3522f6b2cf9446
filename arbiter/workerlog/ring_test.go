package workerlog

import (
	"fmt"
	"strings"
	"testing"
)

// records returns n records whose lines have the given lengths, in turn.
func records(n int, lengths ...int) []Record {
	recs := make([]Record, n)
	for i := range recs {
		recs[i].Line = strings.Repeat("x", lengths[i%len(lengths)])
	}
	return recs
}

// Filling a ring costs a number of allocations that grows with the log
// of its size, not with every line: a ring that reallocated and copied
// all it holds on each push took 26 s for 100,000 lines at log_ring =
// 10000. The same holds once the byte cap, not the line bound, limits
// the ring: a push that evicts nothing must not copy everything.
func TestRingPushDoesNotCopyEverything(t *testing.T) {
	for _, tc := range []struct {
		name    string
		max     int
		recs    []Record
		atMost  float64
		minKept int
	}{
		// 64, 128, ... 16384 then 20000: 10 allocations.
		{"line bound", 20000, records(50000, 10), 12, 20000},
		// About 4 MiB / 5 KiB = 800 records kept, lines of varied lengths
		// so that some pushes evict more than they add.
		{"byte cap", 100000, records(50000, 1000, 9000, 2000, 8000, 5000), 12, 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r *Ring
			allocs := testing.AllocsPerRun(1, func() {
				r = NewRing(tc.max)
				r.Add(tc.recs)
			})
			if allocs > tc.atMost {
				t.Errorf("%d pushes made %.0f allocations, want at most %.0f", len(tc.recs), allocs, tc.atMost)
			}
			recs, last, _ := r.Since(0)
			if len(recs) < tc.minKept || last != uint64(len(tc.recs)) || recs[len(recs)-1].Seq != last {
				t.Fatalf("kept %d records, last %d (want >= %d, last %d)", len(recs), last, tc.minKept, len(tc.recs))
			}
			for i := 1; i < len(recs); i++ {
				if recs[i].Seq != recs[i-1].Seq+1 {
					t.Fatalf("seq %d after %d", recs[i].Seq, recs[i-1].Seq)
				}
			}
		})
	}
}

// Growing and wrapping keep the order and the bound at every size.
func TestRingOrderAcrossGrowth(t *testing.T) {
	for _, max := range []int{1, 63, 64, 65, 200} {
		r := NewRing(max)
		for i := 1; i <= 3*max+7; i++ {
			r.Add([]Record{{Line: fmt.Sprint(i)}})
			recs, _, _ := r.Since(0)
			if want := min(i, max); len(recs) != want {
				t.Fatalf("max %d, after %d: %d records, want %d", max, i, len(recs), want)
			}
			if got := recs[len(recs)-1].Line; got != fmt.Sprint(i) {
				t.Fatalf("max %d: newest %q, want %d", max, got, i)
			}
			if got, want := recs[0].Line, fmt.Sprint(i-len(recs)+1); got != want {
				t.Fatalf("max %d: oldest %q, want %s", max, got, want)
			}
		}
	}
}

// BenchmarkRingPush fills a new ring of each size with twice as many
// lines: the cost per line should not grow with the size.
func BenchmarkRingPush(b *testing.B) {
	for _, size := range []int{1000, 10000, 100000} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			recs := records(2*size, 80)
			for b.Loop() {
				NewRing(size).Add(recs)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/line")
		})
	}
}

// A ring restored from an upgrade's old image keeps what its bound
// allows, and numbers the next lines after the old image's last.
func TestRingRestoreGoesOnFromTheLastNumber(t *testing.T) {
	old := NewRing(10)
	old.Add(records(5, 3))
	kept, last, _ := old.Since(0)
	r := NewRing(3) // log_ring lowered meanwhile
	r.Restore(kept, last)
	r.Add(records(1, 3))
	recs, last, missed := r.Since(2)
	if last != 6 || missed != 1 || len(recs) != 3 || recs[0].Seq != 4 || recs[2].Seq != 6 {
		t.Fatalf("after restore and one line: last %d, missed %d, seqs %v; want 6, 1, [4 5 6]", last, missed, seqs(recs))
	}
}

func seqs(recs []Record) []uint64 {
	var out []uint64
	for _, r := range recs {
		out = append(out, r.Seq)
	}
	return out
}
