package procinfo

import (
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/procfs"
)

// readStat must give the fields the Sampler uses exactly as procfs does.
func TestReadStatMatchesProcfs(t *testing.T) {
	fs, err := procfs.NewFS(procfs.DefaultMountPoint)
	if err != nil {
		t.Fatal(err)
	}
	pids, err := listPids(procfs.DefaultMountPoint)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, statBufSize)
	compared := 0
	for _, pid := range pids {
		p, err := fs.Proc(pid)
		if err != nil {
			continue
		}
		want, err := p.Stat()
		if err != nil {
			continue // exited
		}
		got, err := readStat(procfs.DefaultMountPoint, pid, buf)
		if err != nil {
			continue // exited in between
		}
		if want.Starttime != got.Starttime {
			continue // the pid was reused in between
		}
		// Times and memory move between the two reads; the rest may not.
		want.UTime, want.STime, want.VSize, want.RSS = got.UTime, got.STime, got.VSize, got.RSS
		if d := cmp.Diff(pick(want), pick(got)); d != "" {
			t.Errorf("pid %d (-procfs +readStat):\n%s", pid, d)
		}
		compared++
	}
	if compared == 0 || !slicesHas(pids, os.Getpid()) {
		t.Fatalf("compared %d processes; own pid listed: %v", compared, slicesHas(pids, os.Getpid()))
	}
}

func pick(st procfs.ProcStat) []any {
	return []any{st.PID, st.Comm, st.State, st.PPID, st.UTime, st.STime, st.Nice, st.NumThreads, st.Starttime, st.VSize, st.RSS}
}

func slicesHas(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestParseStat(t *testing.T) {
	line := "42 (a (b) c) S 1 42 42 0 -1 4194560 10 0 0 0 7 3 0 0 20 -5 2 0 12345 1019904 136 18446744073709551615\n"
	st, err := parseStat(42, []byte(line))
	if err != nil {
		t.Fatal(err)
	}
	want := []any{42, "a (b) c", "S", 1, uint(7), uint(3), -5, 2, uint64(12345), uint(1019904), 136}
	if d := cmp.Diff(want, pick(st)); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	for _, bad := range []string{"", "42 (x", "42 (x) S 1 2", "42 (x) S one 42 42 0 -1 0 0 0 0 0 7 3 0 0 20 0 1 0 1 1 1"} {
		if _, err := parseStat(42, []byte(bad)); err == nil {
			t.Errorf("parseStat(%q) = nil error", bad)
		}
	}
}
