package spawn

import (
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/watcher/cgroup"
	"golang.org/x/sys/unix"
)

// exitZeroCode is a worker that does nothing: exit_group(0).
var exitZeroCode = []byte{
	0x31, 0xff, // xor edi, edi
	0xb8, 0xe7, 0x00, 0x00, 0x00, // mov eax, 231
	0x0f, 0x05, // syscall
}

// trivialWorker writes a static amd64 program that exits 0 at once, so
// that a benchmark times the exec steps and not a worker's start-up.
func trivialWorker(b *testing.B) string {
	b.Helper()
	if len(execStubCode) == 0 {
		b.Skip("the trivial worker is amd64 code")
	}
	path := filepath.Join(b.TempDir(), "exit0")
	if err := os.WriteFile(path, execStubELF(exitZeroCode), 0o755); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkStart times Start and Wait of a worker that exits at once,
// through each exec step: what each step adds to a fork/exec.
func BenchmarkStart(b *testing.B) {
	worker := trivialWorker(b)
	steps := []struct {
		name   string
		noStub bool
		spec   ProcSpec
	}{
		{"direct", false, ProcSpec{Umask: -1}},
		{"stub", false, ProcSpec{Umask: 0o022, Listen: true}},
		{"sh", true, ProcSpec{Umask: 0o022, Listen: true}},
		{"stub-rlimit", false, ProcSpec{Umask: 0o022, Listen: true, Rlimits: map[int]uint64{unix.RLIMIT_NOFILE: 1024}}},
		{"shim", true, ProcSpec{Umask: 0o022, Listen: true, Rlimits: map[int]uint64{unix.RLIMIT_NOFILE: 1024}}},
	}
	for _, st := range steps {
		b.Run(st.name, func(b *testing.B) {
			s := runSpawnerWith(b, "", st.noStub)
			spec := st.spec
			spec.Path, spec.Argv, spec.Env = worker, []string{"exit0"}, []string{"A=1"}
			cpu := cpuMeter(b)
			for b.Loop() {
				startWait(b, s.Spawner, spec)
			}
			cpu.report(b)
		})
	}
}

// BenchmarkStartInCgroup times the direct step with the worker in a
// cgroup of its own made for it (mkdir, open, CLONE_INTO_CGROUP, rmdir),
// as poold's containment does; skipped where cgroups cannot be made.
func BenchmarkStartInCgroup(b *testing.B) {
	benchStartInCgroup(b, func(_ *cgroup.Tree, g *cgroup.Group) error { return g.Remove() })
}

// BenchmarkStartWithLimits is BenchmarkStartInCgroup with memory and
// pids limits: on a hybrid host their controllers are cgroup v1's, which
// no clone enters, so the worker goes through the exec stub and is moved
// into them by pid before it runs (joinsV1); on a v2-only host it is the
// clone alone. It reports which (v1dirs).
func BenchmarkStartWithLimits(b *testing.B) {
	lim := cgroup.Limits{MemoryMax: 64 << 20, PidsMax: 100}
	v1 := 0
	benchStartInCgroupWith(b, lim, func(_ *cgroup.Tree, g *cgroup.Group) error {
		v1 = len(g.V1Dirs())
		return g.Remove()
	})
	b.ReportMetric(float64(v1), "v1dirs")
}

// BenchmarkStartInParkedCgroup is BenchmarkStartInCgroup with each
// worker's cgroup parked after its exit and taken again by the next
// start of its slot, as poold does for a replacement (cgroup.Park): no
// mkdir or rmdir, and a clone into a cgroup that held a process before.
// Here (2 CPUs, loaded) it cost 205-228 us of poold's CPU a start
// against 178-184 for the direct step and 248-270 with a new cgroup per
// start: perf puts the new cgroup's extra in its mkdir and rmdir (mostly
// the kernel making and removing its files) and in the first clone into
// it (cgroup_can_fork, cgroup_post_fork), what is left for a parked one
// in the reopening of its directory and the clone's cgroup checks.
func BenchmarkStartInParkedCgroup(b *testing.B) {
	tree := benchStartInCgroup(b, (*cgroup.Tree).Park)
	if tree.Parked() != 1 {
		b.Fatalf("%d cgroups parked, want 1", tree.Parked())
	}
}

// BenchmarkStartWithPipes times the direct step with stdout and stderr
// on pipes drained by a reader goroutine each, as poold's output does.
func BenchmarkStartWithPipes(b *testing.B) {
	worker := trivialWorker(b)
	s := runSpawner(b, "")
	spec := ProcSpec{Path: worker, Argv: []string{"exit0"}, Umask: -1}
	cpu := cpuMeter(b)
	for b.Loop() {
		var drained sync.WaitGroup
		var ends []*os.File
		for _, dst := range []**os.File{&spec.Stdout, &spec.Stderr} {
			r, w, err := os.Pipe()
			if err != nil {
				b.Fatal(err)
			}
			*dst = w
			ends = append(ends, w)
			drained.Add(1)
			go func() {
				defer drained.Done()
				defer r.Close()
				_, _ = io.Copy(io.Discard, r)
			}()
		}
		startWait(b, s.Spawner, spec)
		for _, w := range ends {
			w.Close()
		}
		drained.Wait()
	}
	cpu.report(b)
}

// BenchmarkCgroupMakeRemove times a worker's cgroup alone, made and
// removed without a worker: BenchmarkStartInCgroup less this is what
// the clone into it costs.
func BenchmarkCgroupMakeRemove(b *testing.B) {
	tree, _, err := cgroup.Open(cgroup.TreePrefix+"bench", time.Second)
	if err != nil {
		b.Skipf("no cgroup tree here: %v", err)
	}
	defer tree.Close()
	cpu := cpuMeter(b)
	for b.Loop() {
		g, err := tree.NewGroup("bench", 1, cgroup.Limits{})
		if err != nil {
			b.Fatal(err)
		}
		if err := g.Remove(); err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(b)
}

func startWait(b *testing.B, s *Spawner, spec ProcSpec) {
	p, err := s.Start(spec)
	if err != nil {
		b.Fatal(err)
	}
	if ex, err := p.Wait(); err != nil || ex != (Exit{}) {
		b.Fatalf("worker: %v, %v", ex, err)
	}
}

// cpuUse is the CPU time this process and its reaped children had used
// when a benchmark began. On a loaded machine the wall time of a start
// says more about the neighbours than about the step; the CPU time each
// side spends does not.
type cpuUse struct{ self, children time.Duration }

func cpuNow(b *testing.B) cpuUse {
	var self, children syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &self); err != nil {
		b.Fatal(err)
	}
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children); err != nil {
		b.Fatal(err)
	}
	cpu := func(r *syscall.Rusage) time.Duration {
		return time.Duration(r.Utime.Nano() + r.Stime.Nano())
	}
	return cpuUse{cpu(&self), cpu(&children)}
}

func cpuMeter(b *testing.B) cpuUse { return cpuNow(b) }

// report adds the CPU time per start of the spawner's process and of the
// worker (its exec steps included), in microseconds.
func (c cpuUse) report(b *testing.B) {
	now := cpuNow(b)
	n := float64(b.N)
	b.ReportMetric(float64((now.self-c.self).Microseconds())/n, "self-cpu-us/op")
	b.ReportMetric(float64((now.children-c.children).Microseconds())/n, "child-cpu-us/op")
}

// BenchmarkRoundTrip times a Start that the spawner's thread refuses at
// once (empty argv): the hand-off to the locked thread and back that
// every start pays besides its fork and exec.
func BenchmarkRoundTrip(b *testing.B) {
	s := runSpawner(b, "")
	cpu := cpuMeter(b)
	for b.Loop() {
		if _, err := s.Start(ProcSpec{}); err == nil {
			b.Fatal("Start with an empty argv succeeded")
		}
	}
	cpu.report(b)
}

// BenchmarkRoundTripQueued is BenchmarkRoundTrip with two starts kept
// queued ahead, as a watcher keeps them (watcher.spawnAhead): each Wait
// finds its reply there, and the spawner's thread finds the next start
// queued, so neither parks on every start.
func BenchmarkRoundTripQueued(b *testing.B) {
	s := runSpawner(b, "")
	var ahead []*Pending
	cpu := cpuMeter(b)
	for b.Loop() {
		ahead = append(ahead, s.Begin(ProcSpec{}))
		if len(ahead) > 2 {
			if _, err := ahead[0].Wait(); err == nil {
				b.Fatal("Start with an empty argv succeeded")
			}
			ahead = ahead[1:]
		}
	}
	for _, p := range ahead {
		_, _ = p.Wait()
	}
	cpu.report(b)
}

// benchStartInCgroup times starts of a worker in a cgroup of its own made
// for each, done with by end after its exit (removed, or parked), and
// returns the tree they were made in (closed when the benchmark ends).
func benchStartInCgroup(b *testing.B, end func(*cgroup.Tree, *cgroup.Group) error) *cgroup.Tree {
	return benchStartInCgroupWith(b, cgroup.Limits{}, end)
}

func benchStartInCgroupWith(b *testing.B, lim cgroup.Limits, end func(*cgroup.Tree, *cgroup.Group) error) *cgroup.Tree {
	worker := trivialWorker(b)
	tree, _, err := cgroup.Open(cgroup.TreePrefix+"bench", time.Second)
	if err != nil {
		b.Skipf("no cgroup tree here: %v", err)
	}
	b.Cleanup(func() { tree.Close() })
	s := runSpawner(b, "")
	spec := ProcSpec{Path: worker, Argv: []string{"exit0"}, Umask: -1}
	cpu := cpuMeter(b)
	for b.Loop() {
		g, err := tree.NewGroup("bench", 1, lim)
		if err != nil {
			b.Fatal(err)
		}
		spec.Cgroup = g
		startWait(b, s.Spawner, spec)
		if err := end(tree, g); err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(b)
	return tree
}
