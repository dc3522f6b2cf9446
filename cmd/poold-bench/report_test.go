package main

import (
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestParseWrk(t *testing.T) {
	out := `Running 5s test @ http://127.0.0.1:8000/
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   512.00us  100.00us   3.00ms   90.00%
  Latency Distribution
     50%  480.00us
     75%  600.00us
     90%  700.00us
     99%    1.25ms
  123456 requests in 5.00s, 12.34MB read
  Socket errors: connect 1, read 2, write 3, timeout 4
  Non-2xx or 3xx responses: 5
Requests/sec:  24691.20
Transfer/sec:      2.47MB
`
	w, err := parseWrk(out)
	if err != nil {
		t.Fatal(err)
	}
	want := wrkResult{requests: 123456, connect: 1, read: 2, write: 3, timeout: 4, non2xx: 5, p50: 0.48, p99: 1.25, rps: 24691.2}
	w.raw = ""
	if w != want {
		t.Errorf("parseWrk = %+v, want %+v", w, want)
	}
	if w.errors() != 15 {
		t.Errorf("errors = %v, want 15", w.errors())
	}
	if _, err := parseWrk("unable to connect"); err == nil {
		t.Error("parseWrk accepted output without a request count")
	}
}

func TestQuantile(t *testing.T) {
	s := make([]float64, 100)
	for i := range s {
		s[i] = float64(i + 1)
	}
	for _, c := range []struct {
		q    float64
		want float64
	}{{0.5, 50}, {0.99, 99}, {1, 100}, {0, 1}} {
		if got := quantile(s, c.q); got != c.want {
			t.Errorf("quantile(1..100, %v) = %v, want %v", c.q, got, c.want)
		}
	}
	if !math.IsNaN(quantile(nil, 0.5)) {
		t.Error("quantile of nothing is not NaN")
	}
	if st := newStat([]float64{3, 1, 2}); st.Median != 2 || st.P99 != 3 || st.N != 3 {
		t.Errorf("newStat = %+v", st)
	}
}

// TestKillDelay: the replace section's kill phases stay inside Circus's
// check period and spread over it, for a few kills as for many.
// TestFirstOf: the burst's first replacement is the earliest sample, as
// a one-sample stat (median and p99 alike); none without samples.
func TestFirstOf(t *testing.T) {
	if s := firstOf(nil); s != nil {
		t.Errorf("firstOf(nil) = %+v, want nil", s)
	}
	s := firstOf([]float64{31.5, 7.25, 12})
	if s == nil || s.Median != 7.25 || s.P99 != 7.25 || s.N != 1 {
		t.Errorf("firstOf = %+v, want 7.25 from 1 sample", s)
	}
}

func TestKillDelay(t *testing.T) {
	if killDelay(0) != 0 {
		t.Errorf("warm-up kill delayed by %v", killDelay(0))
	}
	for _, n := range []int{4, 50} {
		quarter := map[int]bool{}
		for i := 1; i <= n; i++ {
			d := killDelay(i)
			if d < 0 || d >= circusCheckDelay {
				t.Fatalf("killDelay(%d) = %v, outside [0, %v)", i, d, circusCheckDelay)
			}
			quarter[int(4*d/circusCheckDelay)] = true
		}
		if len(quarter) != 4 {
			t.Errorf("%d kills fall in %d quarters of check_delay, want all 4", n, len(quarter))
		}
	}
}

// TestFmtStatTail: below 100 samples the upper figure is the maximum and
// says so; from 100 on it is the p99; a rate shows none.
func TestFmtStatTail(t *testing.T) {
	many := make([]float64, 100)
	for i := range many {
		many[i] = float64(i + 1)
	}
	for _, c := range []struct {
		samples []float64
		unit    string
		want    string
	}{
		{[]float64{1, 2, 3}, "ms", "2.00 (max 3.00)"},
		{many, "ms", "50.00 (p99 99.00)"},
		{[]float64{5801, 8850, 7000}, "req/s", "7000"},
		{[]float64{4}, "ms", "4.00"},
	} {
		if got := fmtStat(newStat(c.samples), c.unit); got != c.want {
			t.Errorf("fmtStat(%d samples, %s) = %q, want %q", len(c.samples), c.unit, got, c.want)
		}
	}
}

// TestBenchfmtValid: every line of the benchstat output pairs each value
// with a unit: name, iterations, then value-unit pairs.
func TestBenchfmtValid(t *testing.T) {
	r := &results{Machine: map[string]string{}}
	r.add("tenk", "threads (max of 4 looks)", "threads").set(sPoold, newStat([]float64{11, 12, 11, 13}))
	r.add("reload", "requests/s over a window", "req/s").set(sPoold, newStat([]float64{1, 2, 3}))
	r.add("replace", "kill", "ms").set(sPoold, newStat([]float64{1, 2, 3}))
	r.add("tenk", "a row without a unit", "").set(sPoold, newStat([]float64{7}))
	path := filepath.Join(t.TempDir(), "bench.txt")
	if err := r.writeBenchfmt(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var lines int
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(l, "Benchmark") {
			continue
		}
		lines++
		f := strings.Fields(l)
		if len(f) < 4 || len(f)%2 != 0 {
			t.Errorf("line %q: want name, count and value-unit pairs", l)
			continue
		}
		for i := 2; i < len(f); i += 2 {
			if _, err := strconv.ParseFloat(f[i], 64); err != nil {
				t.Errorf("line %q: %q is not a value", l, f[i])
			}
			if _, err := strconv.ParseFloat(f[i+1], 64); err == nil || f[i+1] == "" {
				t.Errorf("line %q: value %s has no unit", l, f[i])
			}
		}
		if strings.Contains(l, "req/s") && strings.Contains(l, "-") && len(f) != 4 {
			t.Errorf("rate line %q has an upper figure", l)
		}
	}
	if lines != 4 {
		t.Errorf("%d benchmark lines, want 4:\n%s", lines, b)
	}
}
