package spawn

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/cgroup"
)

// Process attributes (ProcSpec.Nice, OOMScoreAdj, Chroot) are set in the
// worker before its program runs and with poold's privileges, so that a
// worker running as nobody may still get a negative nice or a low
// oom_score_adj, as systemd gives them before it drops to User=:
//
//   - chroot alone goes through the fork itself (SysProcAttr.Chroot: Go
//     changes root, then drops to the user, then changes directory);
//   - nice and oom_score_adj (and rlimits) go through the exec stub, on
//     which poold sets them from outside (below), where stubCanStart
//     allows;
//   - else, and for chroot with another step (LISTEN_PID, a umask),
//     through the exec shim, which then also takes over the credential
//     change, after everything that needs privileges. Neither /bin/sh nor
//     poold's binary need exist inside the chroot: the shim changes root
//     itself, right before the exec.

//
// Where the exec stub runs (execstub.go), the stub takes rlimits, nice
// and oom_score_adj off the shim: it waits, after the fork has dropped to
// the worker's user, while poold sets them on it from outside with its
// own privileges (setAttrs), then execs the worker. That is a tenth of
// the shim's cost, which is a start of poold's whole binary.

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
		Path: spec.Path, Umask: spec.Umask, Rlimits: spec.Rlimits, Listen: spec.Listen,
		Nice: spec.Nice, OOMScoreAdj: spec.OOMScoreAdj, Chroot: spec.Chroot, Dir: spec.Dir,
		Ppid: os.Getpid(), Status: 3 + len(spec.Files),
	}
	if joinsV1(spec) {
		s.V1Cgroups = spec.Cgroup.V1Dirs()
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
// that will exec (nice and the parent-death signal are per thread). The
// cgroup v1 directories come after it, right before the exec (runShim).
func applyAttrs(spec shimSpec) error {
	if err := setAttrs(0, spec.OOMScoreAdj, spec.Nice, spec.Rlimits); err != nil {
		return err
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
		if err := syscall.Chdir(spec.Dir); err != nil { // the errno alone: the message names the path
			where := "working_dir " + spec.Dir
			if spec.Chroot != "" {
				where += " inside chroot " + spec.Chroot
			}
			return fmt.Errorf("%s: %w (create it again or allow the worker's user to enter it, or set another working_dir and reload)", where, err)
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

// setFromOutside reports whether spec has attributes that the stub waits
// for poold to set: its cgroup v1 directories among them (joinsV1).
func setFromOutside(spec ProcSpec) bool {
	return len(spec.Rlimits) > 0 || spec.Nice != nil || spec.OOMScoreAdj != nil || joinsV1(spec)
}

// joinsV1 reports whether spec's cgroup has directories in cgroup v1
// hierarchies (a hybrid host), which no clone can start a process in: the
// worker is moved into them by pid before its program runs, by poold while
// the stub waits (letGo) or by the shim itself. poold never enters them
// (cgroup.JoinV1 says why), so no direct exec and no /bin/sh step then.
func joinsV1(spec ProcSpec) bool {
	return spec.Cgroup != nil && len(spec.Cgroup.V1Dirs()) > 0
}

// stubCanStart reports whether the exec stub can start spec, with
// setAttrs for its attributes: not under a chroot (the stub is exec'd
// through /proc); not with RLIMIT_NPROC for another user (the kernel
// checks that limit as the fork changes the user, before poold could set
// it, and a worker over it must fail to start, as under the shim); and,
// for a worker of another user, only when poold may set its attributes
// from outside (a container's root often may not: no CAP_SYS_RESOURCE),
// where the shim sets them before the change of user; and oom_score_adj
// only where /proc is of poold's pid namespace (in another, /proc/PID is
// some other process), where the shim writes its own /proc/self.
func (s *Spawner) stubCanStart(spec ProcSpec) bool {
	if spec.Chroot != "" || (spec.OOMScoreAdj != nil && !s.procIsOurs) {
		return false
	}
	if spec.Credential == nil || !setFromOutside(spec) {
		return true
	}
	_, nproc := spec.Rlimits[unix.RLIMIT_NPROC]
	return !nproc && s.actsOnOthers
}

// procIsOurs reports whether /proc is of poold's pid namespace, so that
// /proc/PID is the worker poold knows as PID.
func procIsOurs() bool {
	self, err := os.Readlink("/proc/self")
	return err == nil && self == strconv.Itoa(os.Getpid())
}

// mayActOnOthers reports whether poold holds, in its effective set, what
// setAttrs needs on another user's process: CAP_SYS_RESOURCE (prlimit),
// CAP_SYS_NICE (setpriority) and CAP_DAC_OVERRIDE (its oom_score_adj).
func mayActOnOthers() bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false
	}
	eff := uint64(data[0].Effective) | uint64(data[1].Effective)<<32
	const need = 1<<unix.CAP_DAC_OVERRIDE | 1<<unix.CAP_SYS_NICE | 1<<unix.CAP_SYS_RESOURCE
	return eff&need == need
}

// attrsError is a start given up because an attribute could not be set
// (the worker's own configuration), or because the stub, which had
// started, did not get to the point where poold sets them: neither is
// the exec step's fault.
type attrsError struct{ err error }

func (e *attrsError) Error() string { return e.err.Error() }
func (e *attrsError) Unwrap() error { return e.err }

// setAttrs sets oom_score_adj (through /proc, before a chroot hides it),
// nice and rlimits, in that order, on pid (0: the calling thread). For
// another process poold needs the privileges the shim would have had:
// root, or the worker's own user.
func setAttrs(pid int, oomScoreAdj, nice *int, rlimits map[int]uint64) error {
	if oomScoreAdj != nil {
		file := "/proc/self/oom_score_adj"
		if pid != 0 {
			file = "/proc/" + strconv.Itoa(pid) + "/oom_score_adj"
		}
		if err := os.WriteFile(file, []byte(strconv.Itoa(*oomScoreAdj)), 0); err != nil {
			return fmt.Errorf("oom_score_adj %d: %w (lowering it needs CAP_SYS_RESOURCE)", *oomScoreAdj, err)
		}
	}
	if nice != nil {
		if err := unix.Setpriority(unix.PRIO_PROCESS, pid, *nice); err != nil {
			return fmt.Errorf("nice %d: %w (a nice below poold's needs root or CAP_SYS_NICE)", *nice, err)
		}
	}
	for res, lim := range rlimits {
		rl := unix.Rlimit{Cur: lim, Max: lim}
		if err := unix.Prlimit(pid, res, &rl, nil); err != nil {
			why := configs.RlimitProblem(configs.RlimitName(res), lim)
			if why == "" {
				why = "the kernel refuses this limit"
			}
			return fmt.Errorf("rlimits %s = %d: %w (%s)", configs.RlimitName(res), lim, err, why)
		}
	}
	return nil
}

// goPipe makes the pipe on which the stub waits for setAttrs: the read
// end for the child (blocking, unlike os.Pipe's) and the write end.
func goPipe(worker string) (r, w *os.File, err error) {
	var fds [2]int
	if err := syscall.Pipe2(fds[:], syscall.O_CLOEXEC); err != nil {
		return nil, nil, fmt.Errorf("start %s: go pipe: %w (is poold out of fds? raise its nofile limit)", worker, err)
	}
	return os.NewFile(uintptr(fds[0]), "stub-go"), os.NewFile(uintptr(fds[1]), "stub-go-w"), nil
}

// letGo sets spec's attributes on the stub waiting in p, moves it into
// its cgroup v1 directories, then lets it
// exec the worker with a byte on the go pipe. It first waits for the
// stub's byte on the status pipe st, which says that the stub's own exec
// is over: an exec writes back, as it ends, the stack limit it started
// with, so a stack limit set while the kernel was still loading the stub
// (Go's fork returns as soon as the exec closes the close-on-exec fds,
// before that) was lost, and the worker ran with poold's. When the stub
// does not get there, or an attribute cannot be set, the stub is killed
// (the caller reaps it), and the reason goes to the worker's stderr too,
// as the shim's would.
func letGo(p *Proc, spec ProcSpec, st *execStatus, goW *os.File) error {
	defer goW.Close()
	err := st.stubStarted()
	if err == nil {
		err = setAttrs(p.Pid, spec.OOMScoreAdj, spec.Nice, spec.Rlimits)
	}
	if err == nil && joinsV1(spec) {
		err = cgroup.JoinV1(p.Pid, spec.Cgroup.V1Dirs())
	}
	if err != nil {
		// Killed, not only left without its byte: the caller waits for
		// its exit, which a stub stopped right now would hold.
		_ = syscall.Kill(p.Pid, syscall.SIGKILL) // our child, not reaped yet
		if spec.Stderr != nil {
			fmt.Fprintf(spec.Stderr, "poold-exec: %s: %v\n", spec.Path, err)
		}
		return &attrsError{fmt.Errorf("start %s: poold's exec stub: %w", spec.Path, err)}
	}
	// A write to a stub that has died (EPIPE) needs no answer: its
	// exit is on its way.
	_, _ = goW.Write([]byte{1})
	return nil
}
