package procinfo

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
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
	// ReadDir's own descriptor is in its list; ReadFDs's is in its count
	// where it lists the directory, and it has none where it stats it.
	want := len(ents)
	if fdDirSizeCounts() {
		want--
	}
	if got.Open != want {
		t.Errorf("ReadFDs: %d open, /proc/self/fd lists %d, want %d", got.Open, len(ents), want)
	}
	if got.Limit == 0 {
		t.Errorf("ReadFDs: limit 0, want the soft RLIMIT_NOFILE")
	}
}

// TestReadFDsCountsByStatAsTheListing: on a kernel that tells a
// process's open descriptors in the size of /proc/PID/fd (Linux 6.2 and
// later) ReadFDs counts them with one stat, and says what the listing
// says, for a process with more descriptors than one getdents batch.
func TestReadFDsCountsByStatAsTheListing(t *testing.T) {
	var uts unix.Utsname
	_ = unix.Uname(&uts)
	release := unix.ByteSliceToString(uts.Release[:])
	if !fdDirSizeCounts() {
		var major, minor int
		if _, err := fmt.Sscanf(release, "%d.%d", &major, &minor); err == nil && (major > 6 || major == 6 && minor >= 2) {
			t.Fatalf("kernel %s is 6.2 or later, yet the size of /proc/self/fd is 0", release)
		}
		t.Logf("kernel %s: the size of /proc/PID/fd is 0; ReadFDs lists the directory", release)
	}
	h := startHelper(t, "fds")
	listed, err := countEntries(fmt.Sprintf("/proc/%d/fd", h.pid), make([]byte, fdBufSize))
	if err != nil {
		t.Fatal(err)
	}
	if listed < 300 {
		t.Fatalf("helper lists %d descriptors, want at least 300", listed)
	}
	before := fdStatCounts.Load()
	got, ok := New().ReadFDs([]int{h.pid})[h.pid]
	if !ok || got.Open != listed {
		t.Errorf("ReadFDs of the helper: %+v (read: %v), its fd directory lists %d", got, ok, listed)
	}
	if stats := fdStatCounts.Load() - before; fdDirSizeCounts() && stats != 1 {
		t.Errorf("ReadFDs counted by stat %d times, want 1 (kernel %s)", stats, release)
	}
}

// TestOwnFDsCountsWhatIsOpen: OwnFDs tells this process's descriptors,
// not counting any of its own, and follows one more opened.
func TestOwnFDsCountsWhatIsOpen(t *testing.T) {
	before, err := OwnFDs()
	if err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	if before != len(ents)-1 {
		t.Errorf("OwnFDs: %d, /proc/self/fd lists %d with the listing's own", before, len(ents))
	}
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if after, err := OwnFDs(); err != nil || after != before+1 {
		t.Errorf("OwnFDs after one more open: %d, %v; want %d", after, err, before+1)
	}
}
