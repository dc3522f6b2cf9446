package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// reg records every process the runner starts, so that cleanup can stop
// each one by pid (gracefully, then SIGKILL of its process group) however
// the run ends. Workers started by a manager (poold, supervisord,
// gunicorn) are not our children: sweep finds them by their command line,
// which names the run's private temporary directory, and kills only those.
type reg struct {
	tmp string // private temp dir: every process of ours names it in its argv

	mu    sync.Mutex
	procs map[int]*proc
}

// proc is one started process; done closes when it has been reaped.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

func newReg(tmp string) *reg { return &reg{tmp: tmp, procs: map[int]*proc{}} }

// start starts cmd in its own process group and reaps it in a goroutine
// that ends when the process does (cleanup waits for all of them).
func (r *reg) start(name string, cmd *exec.Cmd) (*proc, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s (%s): %w", name, cmd.Path, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	r.mu.Lock()
	r.procs[cmd.Process.Pid] = p
	r.mu.Unlock()
	go func() {
		p.err = cmd.Wait()
		r.mu.Lock()
		delete(r.procs, cmd.Process.Pid)
		r.mu.Unlock()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has been reaped.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends sig, waits up to grace, then SIGKILLs the process group and
// waits for the reap. It returns how long the process took to exit.
func (p *proc) stop(sig syscall.Signal, grace time.Duration) time.Duration {
	t0 := time.Now()
	if p.exited() {
		return 0
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
		return time.Since(t0)
	case <-time.After(grace):
	}
	_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
	_ = p.cmd.Process.Kill()
	<-p.done
	return time.Since(t0)
}

// cleanup stops every process still running: managers first (SIGTERM, so
// they stop their workers), then a sweep for any worker left behind.
func (r *reg) cleanup(grace time.Duration) {
	r.mu.Lock()
	ps := make([]*proc, 0, len(r.procs))
	for _, p := range r.procs {
		ps = append(ps, p)
	}
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.stop(syscall.SIGTERM, grace)
		}()
	}
	wg.Wait()
	r.sweep()
}

// sweep SIGKILLs every process (and its group) whose command line names
// the run's temp dir: workers a manager left behind. Nothing else matches.
func (r *reg) sweep() int {
	n := 0
	for _, pid := range r.ours() {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		_ = syscall.Kill(pid, syscall.SIGKILL)
		n++
	}
	return n
}

// ours lists the pids of live processes whose argv mentions r.tmp.
func (r *reg) ours() []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var pids []int
	needle := []byte(r.tmp)
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		cl, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || !bytes.Contains(cl, needle) {
			continue
		}
		if st, err := os.ReadFile("/proc/" + e.Name() + "/stat"); err == nil && isZombie(st) {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}

func isZombie(stat []byte) bool {
	i := bytes.LastIndexByte(stat, ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z'
}

// runTimed runs a command to completion and returns its wall time as a
// whole process (fork, exec, run, exit, reap) and its output.
func runTimed(path string, args ...string) (time.Duration, []byte, error) {
	var out bytes.Buffer
	cmd := exec.Command(path, args...)
	cmd.Stdout = &out
	cmd.Stderr = &out
	t0 := time.Now()
	err := cmd.Run()
	d := time.Since(t0)
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return d, out.Bytes(), fmt.Errorf("%s %v: %w: %s", path, args, err, bytes.TrimSpace(out.Bytes()))
		}
		return d, out.Bytes(), err
	}
	return d, out.Bytes(), nil
}

// tail returns the last n bytes of a file, for error messages.
func tail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > n {
		_, _ = f.Seek(st.Size()-n, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}
