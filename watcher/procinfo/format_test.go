package procinfo

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// TestHumanSize: the values are what Circus 0.19's bytes2human gives.
func TestHumanSize(t *testing.T) {
	for _, tc := range []struct {
		n    uint64
		want string
	}{
		{0, "0B"},
		{512, "512B"},
		{1023, "1023B"},
		{1024, "1.00K"},
		{1152, "1.12K"}, // 1.125: half to even
		{1536, "1.50K"},
		{512 << 10, "512.00K"},
		{1<<20 - 6, "1023.99K"},
		{1<<20 - 1, "1024.00K"},
		{1 << 20, "1.00M"},
		{14 << 20, "14.00M"},
		{14<<20 + 900<<10, "14.88M"},
		{14511882, "13.84M"},
		{1288490189, "1.20G"}, // 1.2 GiB
		{2 << 30, "2.00G"},
		{10<<30 + 1<<29, "10.50G"},
		{5 << 40, "5.00T"},
		{3 << 50, "3.00P"},
		{math.MaxUint64, "16.00E"},
	} {
		if got := HumanSize(tc.n); got != tc.want {
			t.Errorf("HumanSize(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

func TestFormatCPUTime(t *testing.T) {
	for _, tc := range []struct {
		ticks uint64
		want  string
	}{
		{0, "0:00.00"},
		{5, "0:00.05"},
		{150, "0:01.50"},
		{6000, "1:00.00"},
		{6543, "1:05.43"},
		{7200 * userHZ, "120:00.00"},
	} {
		if got := formatCPUTime(tc.ticks); got != tc.want {
			t.Errorf("formatCPUTime(%d) = %q, want %q", tc.ticks, got, tc.want)
		}
	}
}

// Circus's cpu and mem are Python floats: JSON must write 0 as 0.0, so a
// Python client gets a float whatever the value, and mem keeps three
// decimals, so that a small worker does not show 0.
func TestFloatJSON(t *testing.T) {
	for _, tc := range []struct {
		in   Float
		want string
	}{{0, "0.0"}, {12, "12.0"}, {12.5, "12.5"}, {0.006, "0.006"}, {1e21, "1000000000000000000000.0"}, {-3, "-3.0"}} {
		b, err := json.Marshal(tc.in)
		if err != nil || string(b) != tc.want {
			t.Errorf("json.Marshal(Float(%v)) = %s, %v; want %s", float64(tc.in), b, err, tc.want)
		}
	}
	if got := round3(6.0 / 100000 * 100); got != 0.006 {
		t.Errorf("round3(0.006) = %v", got)
	}
	if _, err := json.Marshal(Float(math.NaN())); err == nil {
		t.Error("NaN encoded without an error")
	}
}

// Circus's create_time and age are floats; a process started on a whole
// second (1 in 100 with 10 ms clock ticks) was written as an int, which
// the CircusClient side-by-side test caught.
func TestTimesAreFloatsOnAWholeSecond(t *testing.T) {
	b, err := json.Marshal(Info{CreateTime: 1796208850, Age: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"create_time":1796208850.0`, `"age":2.0`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("info JSON %s lacks %s", b, want)
		}
	}
}

func TestAggregate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		infos []Info
		pids  []int
		cpu   float64
		mem   float64
		age   float64
	}{
		{"none", nil, []int{}, 0, 0, 0},
		{"one", []Info{{PID: 7, CPU: 12.5, Mem: 1.5, Age: 3}}, []int{7}, 12.5, 1.5, 3},
		{"three", []Info{
			{PID: 30, CPU: 10, Mem: 0.1, Age: 5},
			{PID: 10, CPU: 20, Mem: 0.2, Age: 50, Children: []Info{{PID: 11, CPU: 99, Mem: 9}}},
			{PID: 20, CPU: 0, Mem: 0, Age: 1},
		}, []int{10, 20, 30}, 10, 0.3, 50},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Aggregate(tc.infos)
			pids := got["pid"].([]int)
			if len(pids) != len(tc.pids) {
				t.Fatalf("pid = %v, want %v", pids, tc.pids)
			}
			for i := range pids {
				if pids[i] != tc.pids[i] {
					t.Fatalf("pid = %v, want %v", pids, tc.pids)
				}
			}
			if got["cpu"] != Float(tc.cpu) || got["mem"] != Float(tc.mem) || got["age"] != Float(tc.age) || len(got) != 4 {
				t.Errorf("Aggregate = %v, want cpu %v mem %v age %v", got, tc.cpu, tc.mem, tc.age)
			}
		})
	}
}
