package spawn

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/poold/poold/configs"
)

// Process attributes (ProcSpec.Nice, OOMScoreAdj, Chroot) are set in the
// worker before its program runs and while it still has poold's
// privileges, so that a worker running as nobody may still get a negative
// nice or a low oom_score_adj, as systemd gives them before it drops to
// User=:
//
//   - chroot alone goes through the fork itself (SysProcAttr.Chroot: Go
//     changes root, then drops to the user, then changes directory);
//   - nice and oom_score_adj, or chroot with another step (LISTEN_PID, a
//     umask), go through the exec shim, which then also takes over the
//     credential change, after everything that needs privileges. Neither
//     /bin/sh nor poold's binary need exist inside the chroot: the shim
//     changes root itself, right before the exec.

// needsShim reports whether spec needs the shim rather than the fork or
// the shell alone.
func needsShim(spec ProcSpec) bool {
	return spec.Nice != nil || spec.OOMScoreAdj != nil || (spec.Chroot != "" && (spec.Listen || spec.Umask >= 0))
}

// shimCred is the credential the shim drops to.
type shimCred struct {
	UID, GID    uint32
	Groups      []uint32
	NoSetGroups bool
}

func shimSpecOf(spec ProcSpec) shimSpec {
	s := shimSpec{
		Path: spec.Path, Argv: spec.Argv, Umask: spec.Umask, Rlimits: spec.Rlimits, Listen: spec.Listen,
		Nice: spec.Nice, OOMScoreAdj: spec.OOMScoreAdj, Chroot: spec.Chroot, Dir: spec.Dir,
		Ppid: os.Getpid(), Status: 3 + len(spec.Files),
	}
	if c := spec.Credential; c != nil {
		s.Cred = &shimCred{UID: c.Uid, GID: c.Gid, Groups: c.Groups, NoSetGroups: c.NoSetGroups}
	}
	return s
}

// forkDir is where and under which root the fork puts the child.
type forkDir struct{ Dir, Chroot string }

// forkAttr is what the fork itself applies: everything when the worker's
// program or the shell is exec'd directly; nothing but the shim's start
// when the shim runs (it changes root, user and directory itself).
func forkAttr(spec ProcSpec, viaShim bool) (forkDir, *syscall.Credential) {
	if viaShim {
		return forkDir{}, nil
	}
	return forkDir{Dir: spec.Dir, Chroot: spec.Chroot}, spec.Credential
}

// applyAttrs is the shim's part, in the order that keeps privileges
// while they are needed: oom_score_adj (through /proc, before the chroot
// hides it), nice, rlimits (a hard limit may only be raised as root),
// umask, chroot, the user, the working directory. It runs on the thread
// that will exec (nice and the parent-death signal are per thread).
func applyAttrs(spec shimSpec) error {
	if spec.OOMScoreAdj != nil {
		if err := os.WriteFile("/proc/self/oom_score_adj", []byte(strconv.Itoa(*spec.OOMScoreAdj)), 0); err != nil {
			return fmt.Errorf("oom_score_adj %d: %w (lowering it needs CAP_SYS_RESOURCE)", *spec.OOMScoreAdj, err)
		}
	}
	if spec.Nice != nil {
		if err := unix.Setpriority(unix.PRIO_PROCESS, 0, *spec.Nice); err != nil {
			return fmt.Errorf("nice %d: %w (a nice below poold's needs root or CAP_SYS_NICE)", *spec.Nice, err)
		}
	}
	for res, lim := range spec.Rlimits {
		rl := unix.Rlimit{Cur: lim, Max: lim}
		if err := unix.Setrlimit(res, &rl); err != nil {
			why := configs.RlimitProblem(configs.RlimitName(res), lim)
			if why == "" {
				why = "the kernel refuses this limit"
			}
			return fmt.Errorf("rlimits %s = %d: %w (%s)", configs.RlimitName(res), lim, err, why)
		}
	}
	if spec.Umask >= 0 {
		syscall.Umask(spec.Umask)
	}
	if spec.Chroot != "" {
		if err := syscall.Chroot(spec.Chroot); err != nil {
			return fmt.Errorf("chroot %s: %w", spec.Chroot, err)
		}
		if err := os.Chdir("/"); err != nil {
			return fmt.Errorf("chroot %s: chdir /: %w", spec.Chroot, err)
		}
	}
	if err := dropTo(spec.Cred); err != nil {
		return err
	}
	if spec.Dir != "" {
		if err := os.Chdir(spec.Dir); err != nil {
			where := spec.Dir
			if spec.Chroot != "" {
				where = filepath.Join(spec.Chroot, spec.Dir) + " (working_dir inside the chroot)"
			}
			return fmt.Errorf("chdir %s: %w", where, err)
		}
	}
	return keepParentDeathSignal(spec.Ppid)
}

// dropTo changes to c's groups, gid and uid, in that order (on every
// thread: Go's syscall wrappers do that on Linux).
func dropTo(c *shimCred) error {
	if c == nil {
		return nil
	}
	if !c.NoSetGroups {
		gs := make([]int, len(c.Groups))
		for i, g := range c.Groups {
			gs[i] = int(g)
		}
		if err := syscall.Setgroups(gs); err != nil {
			return fmt.Errorf("setgroups %v: %w", c.Groups, err)
		}
	}
	if err := syscall.Setgid(int(c.GID)); err != nil {
		return fmt.Errorf("setgid %d: %w", c.GID, err)
	}
	if err := syscall.Setuid(int(c.UID)); err != nil {
		return fmt.Errorf("setuid %d: %w", c.UID, err)
	}
	return nil
}

// keepParentDeathSignal sets SIGKILL as the parent-death signal of the
// calling thread (the one that execs: the signal is per thread, and a
// change of user clears it), then checks that poold (ppid) is still the
// parent: if it died before, the signal will never come.
func keepParentDeathSignal(ppid int) error {
	runtime.LockOSThread() // already locked by runShim; never unlocked
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0, 0, 0); err != nil {
		return fmt.Errorf("parent-death signal: %w", err)
	}
	if ppid > 0 && os.Getppid() != ppid {
		return fmt.Errorf("poold (pid %d) is gone", ppid)
	}
	return nil
}
