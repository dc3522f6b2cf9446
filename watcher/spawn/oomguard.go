package spawn

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
)

// The OOM guard. In a memory-limited cgroup (a container's, a systemd
// unit's MemoryMax=) the kernel's OOM killer takes the process with the
// most memory, after oom_score_adj: among small workers that is poold
// itself (about 20 MB), and every worker dies with it (as a container's
// PID 1, the container ends). With the guard on, every worker gets
// poold's oom_score_adj plus a bump, so the OOM killer takes a worker,
// which poold replaces and reports, unless poold holds more than that
// share of the limit.
//
// Go runs no code between fork and exec, so poold writes the worker's
// /proc/PID/oom_score_adj as soon as the fork returns, which is once the
// worker's program was exec'd (raising a value needs no privilege, and
// the file is the worker's user's or, for root, any). Processes a worker
// forks in its very first moments, before that write, keep poold's value.
// (Raising poold's own value around the fork instead does not work: the
// fork is what allocates, so the OOM killer struck poold right then, with
// the raised value.) A watcher with an oom_score_adj of its own gets that
// value through its exec step (the stub or the shim), and no guard.
//
// The bump holds only with room above poold: a Burstable pod's processes
// start at 900 to 999 (kubelet's QoS policy), so workers at 1000 were
// barely above poold, and the OOM killer took poold. Lowering poold's own
// value instead, once at start, is what gives that room back; the kernel
// allows it only with CAP_SYS_RESOURCE, which containers lack by default,
// and the arbiter then warns rather than claim protection it lacks.

const oomScoreAdjFile = "/proc/self/oom_score_adj"

// oomGuard holds the value workers get, as written.
type oomGuard struct {
	workers []byte
	warned  atomic.Bool // a refused write was said
}

// OOMScores is what GuardOOM found and did: poold's oom_score_adj and
// the one its workers start with.
type OOMScores struct {
	Own, Workers int
	// LoweredFrom is poold's value before it lowered its own to keep
	// workers a whole bump above it; 0 with Lowered false.
	LoweredFrom int
	Lowered     bool
	// LowerErr says why poold could not lower its own value (the kernel
	// lets only CAP_SYS_RESOURCE go below the value a privileged process
	// set, kubelet's by QoS class); nil when it did or had no need.
	LowerErr error
}

// GuardOOM makes workers start with oom_score_adj bump above poold's own
// (at most 1000) from now on, and returns both values. When poold's own
// value is above 1000-bump (a Burstable pod's 900 to 999, a BestEffort
// pod's 1000), so that workers would be less than bump above it, poold
// first lowers its own to 1000-bump where the kernel lets it. It may be
// called at any time; the forks after it have the guard. A bump that
// changes nothing (poold is at 1000 already) leaves the guard off.
func (s *Spawner) GuardOOM(bump int) (OOMScores, error) {
	sc, err := ReadOOMScores(bump, true)
	if err == nil && sc.Workers > sc.Own {
		s.oom.Store(&oomGuard{workers: []byte(strconv.Itoa(sc.Workers))})
	}
	return sc, err
}

// ReadOOMScores reads this process's oom_score_adj and works out the
// workers' (own + bump, at most 1000). When own is above 1000-bump it
// tries to lower its own value to 1000-bump: for good with keep, else
// (poold --check, which only asks whether it could) putting the value
// back at once (raising needs no privilege).
func ReadOOMScores(bump int, keep bool) (OOMScores, error) {
	own, err := readOOMScoreAdj()
	if err != nil {
		return OOMScores{}, err
	}
	if self, err := os.Readlink("/proc/self"); err != nil || self != strconv.Itoa(os.Getpid()) {
		// A /proc of another pid namespace: its PID is not the worker.
		return OOMScores{Own: own, Workers: own}, fmt.Errorf("/proc is not of poold's pid namespace (/proc/self is %q, poold is pid %d): mount /proc for it", self, os.Getpid())
	}
	sc := OOMScores{Own: own}
	if low := 1000 - bump; own > low {
		switch err := writeOOMScoreAdj(low); {
		case err != nil:
			sc.LowerErr = err
		case !keep:
			if err := writeOOMScoreAdj(own); err != nil {
				return sc, err
			}
			fallthrough
		default:
			sc.Own, sc.LoweredFrom, sc.Lowered = low, own, true
		}
	}
	sc.Workers = min(sc.Own+bump, 1000)
	return sc, nil
}

func readOOMScoreAdj() (int, error) {
	b, err := os.ReadFile(oomScoreAdjFile)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", oomScoreAdjFile, err)
	}
	own, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("read %s: %q: %w", oomScoreAdjFile, b, err)
	}
	return own, nil
}

func writeOOMScoreAdj(v int) error {
	if err := os.WriteFile(oomScoreAdjFile, []byte(strconv.Itoa(v)), 0); err != nil {
		return fmt.Errorf("write %d to %s: %w", v, oomScoreAdjFile, err)
	}
	return nil
}

// guardWorker gives the worker just forked the guard's oom_score_adj (a
// no-op without a guard). A worker that is gone already is no matter; a
// write the kernel refuses (a setuid program's /proc files are root's)
// leaves that worker with poold's value, and is said once.
func (s *Spawner) guardWorker(pid int) {
	g := s.oom.Load()
	if g == nil {
		return
	}
	err := os.WriteFile("/proc/"+strconv.Itoa(pid)+"/oom_score_adj", g.workers, 0)
	if err != nil && !errors.Is(err, os.ErrNotExist) && !errors.Is(err, syscall.ESRCH) && g.warned.CompareAndSwap(false, true) {
		s.warnf("cannot raise the oom_score_adj of worker "+strconv.Itoa(pid)+" to "+string(g.workers)+
			": the OOM killer may take poold before it (said once; other such workers too)", err)
	}
}
