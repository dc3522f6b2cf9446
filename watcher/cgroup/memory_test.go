package cgroup

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// hoard starts, in g (its v1 directories joined before it allocates, as
// the spawner's exec step does), a process that touches mb MiB and
// waits; it returns once the memory is touched.
func hoard(t *testing.T, g *Group, mb int) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("/usr/bin/python3", "-c",
		"import sys,time\nsys.stdin.readline()\nb=b'x'*("+strconv.Itoa(mb)+"<<20)\nprint('held',flush=True)\ntime.sleep(1000)")
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: g.FD(), Setpgid: true}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	if err := JoinV1(cmd.Process.Pid, g.V1Dirs()); err != nil {
		t.Fatal(err)
	}
	in.Write([]byte("go\n"))
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "held\n" {
		t.Fatalf("hoarder said %q, %v", line, err)
	}
	return cmd
}

// r63 memstats: the memory the kernel holds against memory_max, and its
// peak, read where poold made the cgroup (v2, or a hybrid host's v1
// memory hierarchy); a parked cgroup taken again by the next worker of
// its slot does not show the earlier worker's peak.
func TestMemoryIsReadWhereTheLimitIs(t *testing.T) {
	tr := openTree(t, testName(t))
	lim := Limits{MemoryMax: 96 << 20}
	g, err := tr.NewGroup("w", 1, lim)
	if err != nil {
		t.Fatal(err)
	}
	if m := g.Memory(); m.Dir == "" || m.Max != lim.MemoryMax {
		t.Fatalf("Memory of a cgroup with memory_max: %+v", m)
	}
	cmd := hoard(t, g, 40)
	u, ok := g.Memory().Read()
	if !ok || u.Current < 40<<20 || u.Current > lim.MemoryMax || u.Max != lim.MemoryMax {
		t.Fatalf("with 40 MiB touched: %+v, %v; want a current of at least 40 MiB, at most the limit", u, ok)
	}
	if !u.HasPeak || u.Peak < u.Current {
		t.Fatalf("peak %+v: want one at least the current", u)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if err := g.WaitEmpty(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	g.OOMKills()
	if err := tr.Park(g); err != nil {
		t.Fatal(err)
	}
	again, err := tr.NewGroup("w", 1, lim)
	if err != nil {
		t.Fatal(err)
	}
	if again != g {
		t.Fatalf("the slot got a new cgroup %s, not the parked %s", again.Dir, g.Dir)
	}
	hoard(t, again, 8)
	u, ok = again.Memory().Read()
	if !ok || u.Current < 8<<20 {
		t.Fatalf("the next worker's: %+v, %v", u, ok)
	}
	if u.HasPeak && u.Peak >= 40<<20 {
		t.Fatalf("the next worker's peak %d is the earlier worker's (40 MiB)", u.Peak)
	}
	if again.Memory().V1 && !u.HasPeak {
		t.Fatalf("v1 resets its peak: want one, got %+v", u)
	}
	none, err := tr.NewGroup("free", 1, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	defer none.Remove()
	if _, ok := none.Memory().Read(); ok {
		t.Fatal("a cgroup without memory_max has memory figures")
	}
}

// Read of a v2 layout, on files: memory.peak missing (a kernel before
// 5.19) leaves the peak out; a parked cgroup's is never shown.
func TestMemoryReadOfV2Files(t *testing.T) {
	dir := t.TempDir()
	write := func(name, v string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("memory.current", "1048576\n")
	m := memoryAt(dir, false, 4<<20)
	if u, ok := m.Read(); !ok || u.Current != 1<<20 || u.HasPeak || u.Max != 4<<20 {
		t.Fatalf("no memory.peak: %+v, %v", u, ok)
	}
	write("memory.peak", "2097152\n")
	if u, ok := m.Read(); !ok || u.Peak != 2<<20 || !u.HasPeak {
		t.Fatalf("with memory.peak: %+v, %v", u, ok)
	}
	g := &Group{mem: m}
	g.restartPeak()
	if u, ok := g.Memory().Read(); !ok || u.HasPeak {
		t.Fatalf("v2 cgroup taken again: %+v, want no peak", u)
	}
}

// BenchmarkMemoryRead is what the memory figures of one worker under
// memory_max cost a stats sample or a scrape: two file reads.
func BenchmarkMemoryRead(b *testing.B) {
	tr, _, err := Open(TreePrefix+"bench-mem", 0)
	if err != nil {
		b.Skipf("no cgroup tree here: %v", err)
	}
	defer tr.Close()
	g, err := tr.NewGroup("bench", 1, Limits{MemoryMax: 64 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer g.Remove()
	g.CloseFD()
	m := g.Memory()
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := m.Read(); !ok {
			b.Fatal("no memory figures")
		}
	}
}
