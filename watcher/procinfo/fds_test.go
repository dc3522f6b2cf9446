package procinfo

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

const limitsHead = "Limit                     Soft Limit           Hard Limit           Units     \n" +
	"Max processes             63445                63445                processes \n"

func TestReadFDsCountsTheFdDirectoryAndTheSoftLimit(t *testing.T) {
	root := t.TempDir()
	mk := func(pid, fds int, soft string) {
		dir := filepath.Join(root, strconv.Itoa(pid))
		if err := os.MkdirAll(filepath.Join(dir, "fd"), 0o755); err != nil {
			t.Fatal(err)
		}
		for i := range fds {
			if err := os.WriteFile(filepath.Join(dir, "fd", strconv.Itoa(i)), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		limits := limitsHead + "Max open files            " + soft + "                 524288               files     \n"
		if err := os.WriteFile(filepath.Join(dir, "limits"), []byte(limits), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mk(10, 512, "512")                                // full
	mk(11, 3, "unlimited")                            // no limit
	mk(12, 700, "1048576")                            // more than one getdents batch of the 8 KiB buffer
	got := NewAt(root).ReadFDs([]int{10, 11, 12, 13}) // 13: gone
	want := map[int]FDUse{10: {512, 512}, 11: {3, -1}, 12: {700, 1048576}}
	if len(got) != len(want) {
		t.Errorf("ReadFDs: %v, want %v", got, want)
	}
	for pid, w := range want {
		if got[pid] != w {
			t.Errorf("pid %d: %+v, want %+v", pid, got[pid], w)
		}
	}
	if r := got[10].Ratio(); r != 1 {
		t.Errorf("ratio at 512/512: %v", r)
	}
	if r := got[11].Ratio(); r != 0 {
		t.Errorf("ratio without a limit: %v", r)
	}
}

func TestReadFDsOfALiveProcess(t *testing.T) {
	pid := os.Getpid()
	got := New().ReadFDs([]int{pid})[pid]
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	// ReadDir's own descriptor is in its list, ReadFDs's in its count.
	if got.Open != len(ents) {
		t.Errorf("ReadFDs: %d open, /proc/self/fd lists %d", got.Open, len(ents))
	}
	if got.Limit == 0 {
		t.Errorf("ReadFDs: limit 0, want the soft RLIMIT_NOFILE")
	}
}
