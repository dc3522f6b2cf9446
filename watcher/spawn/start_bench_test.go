package spawn

import (
	"io"
	"os"
	"path/filepath"
	"sync"
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
		{"shim", false, ProcSpec{Umask: 0o022, Listen: true, Rlimits: map[int]uint64{unix.RLIMIT_NOFILE: 1024}}},
	}
	for _, st := range steps {
		b.Run(st.name, func(b *testing.B) {
			s := runSpawnerWith(b, "", st.noStub)
			spec := st.spec
			spec.Path, spec.Argv, spec.Env = worker, []string{"exit0"}, []string{"A=1"}
			for b.Loop() {
				startWait(b, s.Spawner, spec)
			}
		})
	}
}

// BenchmarkStartInCgroup times the direct step with the worker in a
// cgroup of its own made for it (mkdir, open, CLONE_INTO_CGROUP, rmdir),
// as poold's containment does; skipped where cgroups cannot be made.
func BenchmarkStartInCgroup(b *testing.B) {
	worker := trivialWorker(b)
	tree, _, err := cgroup.Open(cgroup.TreePrefix+"bench", time.Second)
	if err != nil {
		b.Skipf("no cgroup tree here: %v", err)
	}
	defer tree.Close()
	s := runSpawner(b, "")
	spec := ProcSpec{Path: worker, Argv: []string{"exit0"}, Umask: -1}
	for b.Loop() {
		g, err := tree.NewGroup("bench", 1, cgroup.Limits{})
		if err != nil {
			b.Fatal(err)
		}
		spec.Cgroup = g
		startWait(b, s.Spawner, spec)
		if err := g.Remove(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStartWithPipes times the direct step with stdout and stderr
// on pipes drained by a reader goroutine each, as poold's output does.
func BenchmarkStartWithPipes(b *testing.B) {
	worker := trivialWorker(b)
	s := runSpawner(b, "")
	spec := ProcSpec{Path: worker, Argv: []string{"exit0"}, Umask: -1}
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
