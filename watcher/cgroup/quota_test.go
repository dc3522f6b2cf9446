package cgroup

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHugeCPUMaxIsNotOnePercent: a cpu_max past what int64 holds once
// made µs (1e308, 2^64) wrapped to a negative quota, which the floor of
// 1 % then made 1000 µs: the worker got 1 % of a core, the opposite of
// what was asked. The quota now stops at the kernel's largest, which the
// kernel takes.
func TestHugeCPUMaxIsNotOnePercent(t *testing.T) {
	tr := openTree(t, testName(t))
	g, err := tr.NewGroup("w", 1, Limits{CPUMax: 1e308})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Remove() })
	want := map[string]string{"cpu.max": "17592186044415 100000", "cpu.cfs_quota_us": "17592186044415"}
	seen := 0
	for _, d := range append([]string{g.Dir}, g.V1Dirs()...) {
		for file, v := range want {
			b, err := os.ReadFile(filepath.Join(d, file))
			if err != nil {
				continue
			}
			seen++
			if got := strings.TrimSpace(string(b)); got != v {
				t.Errorf("cpu_max 1e308: %s/%s = %q, want %q", d, file, got, v)
			}
		}
	}
	if seen != 1 {
		t.Fatalf("found the CPU quota %d times in %s and %v, want once", seen, g.Dir, g.V1Dirs())
	}
}

func TestCPUQuota(t *testing.T) {
	for _, tc := range []struct {
		percent float64
		want    int64
	}{
		{150, 150000},
		{1, 1000},
		{0.5, 1000}, // the config refuses under 1; the kernel's least is 1 ms
		{math.NaN(), 1000},
		{17592186044.415, 17592186044415},
		{1e10 * 2, maxCPUQuota},
		{math.Pow(2, 64), maxCPUQuota},
		{1e308, maxCPUQuota},
		{math.Inf(1), maxCPUQuota},
	} {
		if got := cpuQuota(tc.percent); got != tc.want {
			t.Errorf("cpuQuota(%g) = %d, want %d", tc.percent, got, tc.want)
		}
	}
}
