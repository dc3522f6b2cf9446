package spawn

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/poold/poold/watcher/cgroup"
)

// shimJoinStarts is how many starts TestShimJoinsItsPidsLimitLast
// makes, and shimJoinFails how many of them may fail. The old order
// failed about 1 start in 60 (8 in 500 here, 11 in about 800 through
// poold); the new one 1 in 5,000 under load (the runtime may still want
// a thread between the join and the exec: runShim), so that 800 starts
// with at most 3 failures catch the old order but once in 800 runs and
// fail the new one about once in 40,000. The starts run in
// shimJoinLanes at once, each in a limit of its own, as poold starts
// workers of several slots: each waits mostly for its shim and the
// cgroup clean-up, and the 800 took minutes one after the other.
const (
	shimJoinStarts = 800
	shimJoinFails  = 3
	shimJoinLanes  = 2
)

// TestShimJoinsItsPidsLimitLast: a worker of another user with
// rlimits.nproc (so through the exec shim) in a cgroup v1 pids limit
// of 1-4 died now and then before its program ran, with a Go runtime
// dump in its log ("failed to create new OS thread", or the start hung):
// the shim moved itself into the limit first, and the Go runtime needed
// a thread after that, to stop the world for setgid and setuid among
// others (r59: 11 starts in about 800). The shim must enter its v1
// cgroups only right before the exec, which leaves a narrow window
// (shimJoinFails). The shim is poold's own binary
// as `make build` makes it (CGO_ENABLED=0: with cgo, setuid goes through
// libc, and the test binary runs with the race detector), and the limit
// is 1, below any Go process's thread count.
func TestShimJoinsItsPidsLimitLast(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs root (the worker runs as nobody); CI runs the suite as root")
		}
		t.Skip("needs root: the worker runs as nobody")
	}
	tree, _, err := cgroup.Open(fmt.Sprintf("%sshimjoin-%d", cgroup.TreePrefix, os.Getpid()), 5*time.Second)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no cgroup tree: %v; CI runs as root with cgroups mounted", err)
		}
		t.Skipf("no cgroup tree here: %v", err)
	}
	t.Cleanup(func() { tree.Close() })
	s := runSpawnerOf(t, New(staticPoold(t)))
	if err := shimJoinable(s.Spawner, tree); errors.Is(err, errV2Pids) {
		t.Skip(err)
	} else if err != nil {
		t.Fatal(err)
	}
	var (
		mu           sync.Mutex
		fails, setup int
		first        string
		next         atomic.Int64
		lanes        sync.WaitGroup
	)
	for lane := range shimJoinLanes {
		lanes.Go(func() {
			for i := int(next.Add(1)); i <= shimJoinStarts; i = int(next.Add(1)) {
				out, err, serr := startInPidsLimit(s.Spawner, tree, fmt.Sprintf("join%d", lane))
				mu.Lock()
				switch {
				case serr != nil:
					setup++
					if setup == 1 {
						t.Errorf("start %d: %v", i, serr)
					}
				case err != nil:
					fails++
					if first == "" {
						first = fmt.Sprintf("start %d: %v; its stderr:\n%.1500s", i, err, out)
					}
				}
				mu.Unlock()
				if serr != nil {
					return
				}
			}
		})
	}
	lanes.Wait()
	if fails > shimJoinFails {
		t.Errorf("%d of %d starts failed (%d may); the first, %s", fails, shimJoinStarts, shimJoinFails, first)
	} else if fails > 0 {
		t.Logf("%d of %d starts failed (%d may); the first, %.300s", fails, shimJoinStarts, shimJoinFails, first)
	}
}

// errV2Pids: the host's pids limit is cgroup v2's, and the shim joins v1
// cgroups on hybrid hosts only.
var errV2Pids = errors.New("the pids limit is cgroup v2's here: the shim joins v1 cgroups on hybrid hosts only")

// shimJoinSpec starts /bin/true as nobody with rlimits.nproc in g,
// through the shim.
func shimJoinSpec(g *cgroup.Group) ProcSpec {
	return ProcSpec{Path: "/bin/true", Argv: []string{"true"}, Umask: -1, Cgroup: g,
		Rlimits:    map[int]uint64{unix.RLIMIT_NPROC: 1000},
		Credential: &syscall.Credential{Uid: 65534, Gid: 65534, NoSetGroups: true}}
}

// shimJoinable checks that a start in a pids limit of tree goes through
// the shim into v1 cgroups: errV2Pids if the limit is v2's.
func shimJoinable(s *Spawner, tree *cgroup.Tree) error {
	g, err := tree.NewGroup("joincheck", 1, cgroup.Limits{PidsMax: 1})
	if err != nil {
		return err
	}
	defer func() { _ = g.Remove() }()
	if len(g.V1Dirs()) == 0 {
		return fmt.Errorf("%w (%s)", errV2Pids, g.Dir)
	}
	if got := step(s, shimJoinSpec(g)); got != "shim" {
		return fmt.Errorf("exec step %s, want shim", got)
	}
	return nil
}

// startInPidsLimit starts /bin/true as nobody with rlimits.nproc in a
// cgroup of its own (named for watcher) with pids_max 1, through the
// shim, and returns its stderr and why it failed (nil: it exited 0), or
// in serr why the start could not be tried. It runs in the test's lanes,
// off the test's goroutine, so it fails nothing itself.
func startInPidsLimit(s *Spawner, tree *cgroup.Tree, watcher string) (out string, err, serr error) {
	g, serr := tree.NewGroup(watcher, 1, cgroup.Limits{PidsMax: 1})
	if serr != nil {
		return "", nil, serr
	}
	defer func() { _ = g.Remove() }()
	spec := shimJoinSpec(g)
	r, w, serr := os.Pipe()
	if serr != nil {
		return "", nil, serr
	}
	defer r.Close()
	spec.Stderr = w
	p, err := s.Start(spec)
	w.Close()
	g.CloseFD()
	if err != nil {
		return "", err, nil
	}
	// The old order could also hang the shim (the runtime waiting for
	// a thread it could not start): a generous bound.
	hung := time.AfterFunc(hang, func() { _ = syscall.Kill(p.Pid, syscall.SIGKILL) })
	defer hung.Stop()
	b, _ := io.ReadAll(r)
	ex, err := p.Wait()
	if err == nil && ex != (Exit{}) {
		err = fmt.Errorf("worker pid %d: %v", p.Pid, ex)
	}
	return string(b), err, nil
}

// staticPoold builds cmd/poold as `make build` does, for its exec shim.
func staticPoold(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "poold")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/poold/poold/cmd/poold")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build ./cmd/poold: %v\n%s", err, strings.TrimSpace(string(out)))
	}
	return bin
}
