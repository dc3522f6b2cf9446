package procinfo

import (
	"os"
	"testing"
)

func TestReadUsageOfSelf(t *testing.T) {
	s := New()
	got, err := s.ReadUsage([]int{os.Getpid(), 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	u, ok := got[os.Getpid()]
	if !ok || u.RSS < 1<<20 || u.CPUSeconds <= 0 {
		t.Errorf("own usage %+v (%v): want some RSS and CPU", u, ok)
	}
	if _, ok := got[1<<30]; ok || len(got) != 1 {
		t.Errorf("a pid that does not exist got usage: %v", got)
	}
}

func TestParseUsage(t *testing.T) {
	line := []byte("1234 (a (weird) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 12345 1000000 300 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n")
	u, ok := parseUsage(line, 4096)
	if !ok || u.CPUSeconds != 3 || u.RSS != 300*4096 {
		t.Errorf("parseUsage = %+v, %v; want 3 s of CPU and 300 pages", u, ok)
	}
	for _, bad := range []string{"", "1 (x) S 1 2", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 x 0 0 0 0 0 1 0 0 0 y"} {
		if _, ok := parseUsage([]byte(bad), 4096); ok {
			t.Errorf("parseUsage(%q) accepted", bad)
		}
	}
}
