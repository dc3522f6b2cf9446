// Package spawn starts poold's worker processes.
//
// A Spawner forks from one goroutine locked to its OS thread, because Linux
// ties the parent-death signal (Pdeathsig) to the thread that forked, not
// to the process: forked from an ordinary goroutine, a worker would be
// killed when that thread ended (the runtime ends a thread whose locked
// goroutine returns), long before poold does. Every worker gets its
// own session and process group (Setsid), so a stop can signal the whole
// group, and no controlling terminal: on poold's terminal (docker run
// -t) a worker that opened /dev/tty would be stopped for good by SIGTTIN,
// as a background group of poold's session. It sees only fds 0-2 and the
// files passed in ProcSpec.Files.
//
// Go runs no code between fork and exec, so what must happen in the child
// alone (LISTEN_PID set to its own pid, a umask, rlimits, nice and
// oom_score_adj) happens in an exec step before the worker's own program:
// for LISTEN_PID and a umask, a sub-kilobyte exec stub held in a memfd
// (execstub.go), or /bin/sh's builtins where the stub cannot run;
// otherwise poold's own binary as an exec shim (see RunShimIfRequested),
// which then also changes root and user itself (attrs.go). The step execs
// the worker in the same process, so
// the pid, process group, fds and parent-death signal stay. When the
// exec fails, directly or from the stub or shim, Start returns the error
// (execstatus.go); from the /bin/sh step, Start has already succeeded and
// the worker exits with status 127 after writing the reason, naming the
// path, on its stderr.
//
// Start returns a Proc, whose Wait returns once the spawner's thread has
// reaped that worker: the spawner reaps its own children on SIGCHLD, and
// waiting costs no OS thread and no fd per worker (see proc.go,
// children.go and exitwatch.go). A fork
// refused for lack of pids (EAGAIN) is an ordinary error of that Start,
// naming the limits that cause it; so is a fork that would take one of
// the last pids that poold keeps under its cgroup's pids.max for its own
// threads (see pids.go).
//
// Concurrency: Start may be called from any goroutine, concurrently, while
// Run runs; calls are served one at a time on the locked thread. A Start
// made before Run begins waits for it; one made after Run has returned
// fails with ErrSpawnerStopped. Run is called once. Before Run returns,
// every worker it started that is still alive gets SIGKILL, as its
// parent-death signal would give it, and is reaped: stop the workers
// first. Proc.Wait may be called from any goroutine.
package spawn

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/poold/poold/watcher/cgroup"
	"golang.org/x/sys/unix"
)

// ProcSpec is everything needed to start one worker process.
type ProcSpec struct {
	Path       string   // resolved executable
	Argv       []string // argv[0] included
	Env        []string
	Dir        string
	Files      []*os.File // inherited at fds 3, 4, ...
	Credential *syscall.Credential
	Umask      int // -1: inherit
	Rlimits    map[int]uint64
	Listen     bool     // set LISTEN_PID to the worker's pid
	Stdout     *os.File // nil: /dev/null
	Stderr     *os.File // nil: /dev/null
	// Process attributes, set before the worker's program runs, with
	// poold's privileges (see attrs.go). nil and "": poold's.
	Nice, OOMScoreAdj *int
	Chroot            string // Path and Dir are inside it
	// Cgroup, when set, is the worker's own cgroup: the clone starts the
	// worker in it (CLONE_INTO_CGROUP), before it can run or fork; its
	// cgroup v1 directories, on a hybrid host, the exec step (joinsV1).
	Cgroup *cgroup.Group
}

// Spawner starts processes from one goroutine locked to its OS thread; see
// the package documentation.
type Spawner struct {
	self     string // poold's own binary, the exec shim
	shell    string // the POSIX shell of the light exec step
	hasShell bool   // shell exists and is executable; set by Run
	// actsOnOthers: poold may set attributes on a worker of another user
	// (mayActOnOthers); set by Run.
	actsOnOthers bool
	procIsOurs   bool      // /proc is of poold's pid namespace; set by Run
	pids         pidsWatch // poold's pids limits; used on Run's goroutine
	// The children of Run's thread (children.go); used on Run's goroutine.
	live      map[int]*Proc // workers not reaped yet, by pid
	unclaimed map[int]Exit  // reaped before an Adopt; see orphan
	orphans   func(Orphan)  // set by ReportOrphans; nil: keep them
	// stub is the exec stub (execstub.go); nil: none, /bin/sh instead.
	// Set and cleared on Run's goroutine; atomic for tests' peeks.
	stub    atomic.Pointer[execStub]
	stubOff bool // tests: act as if the stub could not run
	// statusWait (tests): the bound of a step's exec status, in place of
	// execStatusWait (0); the race-built test binary, the tests' shim,
	// takes seconds to start on a loaded machine.
	statusWait time.Duration
	null       *os.File // /dev/null, read and write (see devnull)
	// deathSignalOnly (tests): at stop, leave the workers to their
	// parent-death signal, as when poold itself is killed.
	deathSignalOnly bool
	warn            atomic.Pointer[warnFunc] // see SetWarn
	oom             atomic.Pointer[oomGuard] // see GuardOOM; nil: off
	onMain          bool                     // served on the main thread (exec.go)
	// Exit hints (exitwatch.go, hints.go); used on Run's goroutine but
	// for the atomics, which tests read.
	xw            *exitWatch                        // nil: none (yet)
	xwTried       bool                              // started once, or failed to: not again
	xwErr         error                             // why there is none
	xwMin         int                               // live workers that start it
	backstop      *time.Timer                       // the walk after a SIGCHLD, with hints
	backstopOn    bool                              // armed
	backstopFirst time.Time                         // when it was armed: due by backstopSpan from then
	busyAt        time.Time                         // the last SIGCHLD or start: puts the walk off
	backstopDelay time.Duration                     // backstopDelay; tests change it
	backstopSpan  time.Duration                     // backstopSpan; tests change it
	pidfdOpen     func(pid, flags int) (int, error) // tests make it fail
	hinting       atomic.Bool                       // xw runs
	walks         atomic.Int64                      // waitid(P_ALL) calls made
	reqs          chan request
	execs         chan execRequest
	orphanq       chan orphanRequest
	reapHolds     chan reapHold
	reapsHeld     bool // reaphold.go; the spawner's goroutine's
	done          chan struct{}

	// startProcess is syscall.StartProcess; tests make it fail.
	startProcess func(path string, argv []string, attr *syscall.ProcAttr) (int, uintptr, error)
}

type request struct {
	spec  ProcSpec
	adopt int // not 0: adopt this pid instead of starting spec
	reply chan result
}

type orphanRequest struct {
	report func(Orphan)
	reply  chan bool
}

type result struct {
	proc   *Proc
	status *execStatus // nil: the worker's program is exec'd already
	err    error
}

// ErrSpawnerStopped is returned by Start once Run has returned.
var ErrSpawnerStopped = errors.New("spawner stopped")

// New returns a spawner that re-executes self (poold's own binary) as the
// exec shim. It does no I/O and starts no goroutine.
func New(self string) *Spawner {
	return &Spawner{
		self: self, shell: "/bin/sh",
		live: map[int]*Proc{}, unclaimed: map[int]Exit{},
		xwMin: exitWatchMin, backstopDelay: backstopDelay, backstopSpan: backstopSpan, pidfdOpen: unix.PidfdOpen,
		startProcess: syscall.StartProcess, reqs: make(chan request, queueDepth),
		execs: make(chan execRequest), orphanq: make(chan orphanRequest),
		reapHolds: make(chan reapHold), done: make(chan struct{}),
	}
}

// warnFunc says a warning with key/value pairs; hclog's Warn is one.
type warnFunc = func(msg string, args ...any)

// SetWarn sets where the spawner says, once, that it had to fall back to
// a slower exec step; hclog's Warn fits. It may be called at any time,
// also while Run runs (poold's logger exists only after its spawner
// started); until then the line goes to stderr.
func (s *Spawner) SetWarn(warn warnFunc) { s.warn.Store(&warn) }

// checkShell looks for the shell once; see execStep.
func (s *Spawner) checkShell() {
	if fi, err := os.Stat(s.shell); err == nil && fi.Mode()&0o111 != 0 {
		s.hasShell = true
	}
}

// Run serves Start calls until ctx is done, then returns nil. The thread
// stays locked and ends with the goroutine: any worker still alive then
// gets its parent-death signal, so nothing outlives a spawner that stopped.
// (Called on the main thread, which cannot end, Run serves from another.)
func (s *Spawner) Run(ctx context.Context) error {
	runtime.LockOSThread()
	if syscall.Gettid() == os.Getpid() {
		// The main thread never ends: the runtime parks it when a
		// goroutine locked to it returns, so workers forked here would
		// outlive Run. Serve from another thread, which ends with Run;
		// while this goroutine holds the main thread, no other can get
		// it.
		defer runtime.UnlockOSThread()
		errc := make(chan error, 1)
		go func() { errc <- s.Run(ctx) }()
		return <-errc
	}
	return s.serve(ctx)
}

// releaseGrace bounds how long a stopping spawner waits for the workers
// it SIGKILLed to end.
const releaseGrace = 5 * time.Second

func (s *Spawner) serve(ctx context.Context) error {
	defer close(s.done)
	s.checkShell()
	s.actsOnOthers, s.procIsOurs = mayActOnOthers(), procIsOurs()
	s.loadStub()
	defer s.closeStub()
	s.pids.open()
	s.pids.spares()
	if room, ok := nprocRoom(); ok {
		keepSpares(room)
	}
	defer s.pids.close()
	_, _ = s.devnull() // held from the start; a failure is retried, and reported, by the first Start
	defer s.closeDevnull()
	sigchld := make(chan os.Signal, 1)
	signal.Notify(sigchld, syscall.SIGCHLD)
	defer signal.Stop(sigchld)
	// Children that ended before this image of poold could hear of it
	// (during an upgrade's exec) raise no SIGCHLD again.
	s.reapChildren()
	for {
		select {
		case <-ctx.Done():
			s.release(sigchld, releaseGrace)
			return nil
		case <-s.sigchldUnlessHeld(sigchld):
			s.onSigchld()
		case <-s.hintsUnlessHeld():
			s.onReady()
		case <-s.backstopUnlessHeld():
			s.walkBackstop()
		case r := <-s.reapHolds:
			s.reapsHeld = r.hold
			close(r.reply)
		case <-s.xwDone():
			s.exitWatchEnded()
		case r := <-s.reqs:
			var res result
			if r.adopt != 0 {
				res.proc, res.err = s.adopt(r.adopt)
			} else {
				res.proc, res.status, res.err = s.start(r.spec)
				s.busyAt = time.Now() // puts off the backstop's walk
			}
			r.reply <- res
		case r := <-s.orphanq:
			if s.onMain {
				s.orphans = r.report
				s.flushUnclaimed()
			}
			r.reply <- s.onMain
		case r := <-s.execs:
			r.reply <- s.exec(r)
		}
	}
}

// ReportOrphans tells whether this spawner reaps the orphans of workers
// itself, and if so reports each one (and each exit an Adopt could have
// claimed) to report, on the spawner's goroutine, from now on. It does
// when served on the main thread (RunOnMain), where a subreaper's orphans
// go; otherwise, or when it has stopped, it returns false, and an
// OrphanReaper must reap them. Call it once poold has adopted every
// worker an upgrade handed over.
func (s *Spawner) ReportOrphans(report func(Orphan)) bool {
	r := orphanRequest{report: report, reply: make(chan bool, 1)}
	select {
	case s.orphanq <- r:
	case <-s.done:
		return false
	}
	return <-r.reply
}

// Adopt watches pid, a worker poold started before it re-executed itself
// (same process, new image, same main thread: see exec.go). A worker that
// ended during the exec has its exit kept until then: its Wait returns at
// once. It fails when pid is no child of the spawner's thread. Adopt
// every worker before ReportOrphans.
func (s *Spawner) Adopt(pid int) (*Proc, error) {
	if pid <= 0 {
		return nil, fmt.Errorf("adopt pid %d: not a pid", pid)
	}
	return s.ask(request{adopt: pid})
}

// Start starts one process and returns once it has been forked and the
// worker's own program exec'd (syscall.StartProcess waits for the first
// exec; the status pipe of execstatus.go for the one from the stub or
// shim). The caller owns the Proc and must Wait for it.
func (s *Spawner) Start(spec ProcSpec) (*Proc, error) {
	return s.Begin(spec).Wait()
}

func (s *Spawner) start(spec ProcSpec) (*Proc, *execStatus, error) {
	if len(spec.Argv) == 0 {
		// execStep would index it, on the spawner's thread.
		return nil, nil, fmt.Errorf("start %s: empty argv: want at least argv[0]", spec.Path)
	}
	if err := s.pids.check(); err != nil {
		return nil, nil, fmt.Errorf("start %s: %w", spec.Path, err)
	}
	p, st, viaStub, err := s.startOnce(spec)
	if err != nil && viaStub && stubMayBeAtFault(err) && !s.stubRuns() {
		// The stub may be what cannot run here (a noexec policy,
		// seccomp): if the next step can start the worker, use that
		// from now on, and say so once.
		stub := s.stub.Load()
		s.stub.Store(nil)
		p2, st2, _, err2 := s.startOnce(spec)
		if err2 != nil {
			s.stub.Store(stub) // the worker's own fault: keep the stub
			return p2, nil, err2
		}
		s.dropStub(stub, err)
		return p2, st2, nil
	}
	return p, st, err
}

// startOnce starts spec through the exec step execStep picks now. st,
// when not nil, tells whether that step could exec the worker's program
// (execstatus.go).
func (s *Spawner) startOnce(spec ProcSpec) (p *Proc, st *execStatus, viaStub bool, err error) {
	path, argv, env, viaStub, err := s.execStep(spec)
	if err != nil {
		return nil, nil, false, err
	}
	viaShim := path == s.self && len(argv) > 0 && argv[0] == shimArgv
	if env == nil {
		env = os.Environ() // as os.StartProcess does
	}
	devnull, err := s.devnull()
	if err != nil {
		return nil, nil, viaStub, err
	}
	files := make([]*os.File, 0, 5+len(spec.Files))
	files = append(files, devnull, orDevnull(spec.Stdout, devnull), orDevnull(spec.Stderr, devnull))
	files = append(files, spec.Files...)
	if viaStub {
		files = append(files, s.stub.Load().f) // the stub closes it
	}
	fds := fdsOf(files)
	stW := -1
	if viaStub || viaShim { // its write end follows every other fd
		step := "poold's exec stub"
		if viaShim {
			step = "poold's exec shim"
		}
		if st, stW, err = newStatusPipe(spec.Path, step, s.statusWait); err != nil {
			return nil, nil, viaStub, err
		}
		fds = append(fds, uintptr(stW))
	}
	var goW *os.File
	if viaStub && setFromOutside(spec) {
		var goR *os.File
		if goR, goW, err = goPipe(spec.Path); err != nil {
			st.close()
			syscall.Close(stW)
			return nil, nil, viaStub, err
		}
		defer goR.Close() // after the fork
		fds = append(fds, goR.Fd())
	}
	attr, cred := forkAttr(spec, viaShim)
	p, err = s.fork(path, argv, &syscall.ProcAttr{Dir: attr.Dir, Env: env}, fds, cred, attr.Chroot, spec.Cgroup)
	runtime.KeepAlive(files) // their fds must stay open until the fork
	if stW >= 0 {
		syscall.Close(stW) // the child's copy alone keeps it open
	}
	if err != nil {
		if st != nil {
			st.close()
		}
		if goW != nil {
			goW.Close()
		}
		return nil, nil, viaStub, startError(spec, stepName(path, viaStub, viaShim), err)
	}
	if spec.OOMScoreAdj == nil { // else the step sets the watcher's own
		s.guardWorker(p.Pid)
	}
	if goW != nil {
		if err := letGo(p, spec, st, goW); err != nil {
			st.close()
			return p, nil, viaStub, err
		}
	}
	return p, st, viaStub, nil
}

// fork starts path with fds at 0, 1, 2, ... (the caller keeps them open
// until it returns) in its own process group, with the parent-death
// signal, chrooted when chroot is set, and in cg when not nil. It forks
// through syscall, not os: with no os.Process, nothing in os can reap
// the child (see proc.go).
func (s *Spawner) fork(path string, argv []string, attr *syscall.ProcAttr, fds []uintptr, cred *syscall.Credential, chroot string, cg *cgroup.Group) (*Proc, error) {
	attr.Files = fds
	attr.Sys = &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGKILL, Credential: cred, Chroot: chroot}
	if cg != nil {
		// The v2 group only: its v1 directories are the exec step's
		// (joinsV1), never this thread's.
		attr.Sys.UseCgroupFD, attr.Sys.CgroupFD = true, cg.FD()
	}
	reaper.mu.Lock() // the orphan reaper must not take this child for one
	pid, _, err := s.startProcess(path, argv, attr)
	if err == nil {
		reaper.workers[pid] = true
	}
	reaper.mu.Unlock()
	if err != nil {
		return nil, err
	}
	p := newProc(pid)
	s.live[pid] = p
	s.watchExit(pid)
	return p, nil
}

// devnull is /dev/null, opened for reading and writing as Run starts
// (else when first needed) and kept until Run returns: a worker's stdin,
// and its stdout and stderr when nobody keeps its output. Writable, since
// a worker that writes to a read-only stdout fails (EBADF: `echo` fails,
// Python exits 120). Used on the spawner's goroutine only.
func (s *Spawner) devnull() (*os.File, error) {
	if s.null == nil {
		f, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
		if err != nil {
			return nil, err
		}
		s.null = f
	}
	return s.null, nil
}

// closeDevnull closes devnull's file when Run returns.
func (s *Spawner) closeDevnull() {
	if s.null != nil {
		s.null.Close()
		s.null = nil
	}
}

// fdsOf is the fds of files, for fork.
func fdsOf(files []*os.File) []uintptr {
	fds := make([]uintptr, len(files), len(files)+2) // room for the pipes of startOnce
	for i, f := range files {
		fds[i] = f.Fd()
	}
	return fds
}

func orDevnull(f, devnull *os.File) *os.File {
	if f == nil {
		return devnull
	}
	return f
}
