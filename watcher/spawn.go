package watcher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"syscall"
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
	Listen     bool // set LISTEN_PID to the worker's pid
	Stdout     *os.File
	Stderr     *os.File
}

// Spawner starts processes from one goroutine locked to its OS thread, so
// that the parent-death signal (which Linux ties to the forking thread)
// fires only when poold itself dies. Every worker gets its own process
// group.
//
// Concurrency: Start may be called from any goroutine while Run is
// running; calls are served one at a time on the locked thread.
type Spawner struct {
	self string
	reqs chan spawnReq
	done chan struct{}
}

type spawnReq struct {
	spec  ProcSpec
	reply chan spawnResult
}

type spawnResult struct {
	proc *os.Process
	err  error
}

// ErrSpawnerStopped is returned by Start once Run has returned.
var ErrSpawnerStopped = errors.New("spawner stopped")

// NewSpawner returns a spawner that re-executes self (poold's own binary)
// as the exec shim. It does no I/O.
func NewSpawner(self string) *Spawner {
	return &Spawner{self: self, reqs: make(chan spawnReq), done: make(chan struct{})}
}

// Run serves Start calls until ctx is done. The thread stays locked and
// ends with the goroutine: any worker still alive then gets its parent-death
// signal, so nothing outlives a spawner that stopped.
func (s *Spawner) Run(ctx context.Context) error {
	runtime.LockOSThread()
	defer close(s.done)
	for {
		select {
		case <-ctx.Done():
			return nil
		case r := <-s.reqs:
			p, err := s.start(r.spec)
			r.reply <- spawnResult{p, err}
		}
	}
}

// Start starts one process and returns once it has been forked and the
// shim exec'd (os.StartProcess waits for the exec to succeed).
func (s *Spawner) Start(spec ProcSpec) (*os.Process, error) {
	r := spawnReq{spec: spec, reply: make(chan spawnResult, 1)}
	select {
	case s.reqs <- r:
	case <-s.done:
		return nil, ErrSpawnerStopped
	}
	res := <-r.reply
	return res.proc, res.err
}

func (s *Spawner) start(spec ProcSpec) (*os.Process, error) {
	ss := shimSpec{Path: spec.Path, Argv: spec.Argv, Umask: spec.Umask, Rlimits: spec.Rlimits, Listen: spec.Listen}
	raw, err := json.Marshal(ss)
	if err != nil {
		return nil, err
	}
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return nil, err
	}
	defer devnull.Close()
	files := make([]*os.File, 0, 3+len(spec.Files))
	files = append(files, devnull, orDevnull(spec.Stdout, devnull), orDevnull(spec.Stderr, devnull))
	files = append(files, spec.Files...)
	env := make([]string, 0, len(spec.Env)+1)
	env = append(env, spec.Env...)
	env = append(env, shimEnv+"="+string(raw))
	p, err := os.StartProcess(s.self, []string{shimArgv, spec.Path}, &os.ProcAttr{
		Dir:   spec.Dir,
		Env:   env,
		Files: files,
		Sys: &syscall.SysProcAttr{
			Setpgid:    true,
			Pdeathsig:  syscall.SIGKILL,
			Credential: spec.Credential,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Path, err)
	}
	return p, nil
}

func orDevnull(f, devnull *os.File) *os.File {
	if f == nil {
		return devnull
	}
	return f
}
