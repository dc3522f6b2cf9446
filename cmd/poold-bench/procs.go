package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// reg records every process the runner starts, so that cleanup can stop
// each one by pid (gracefully, then SIGKILL of its process group) however
// the run ends. Workers started by a manager (poold, supervisord,
// gunicorn) are not our children: cleanup notes the managers' descendants
// (by parent pid, with their start times) before stopping the managers,
// and afterwards kills, by pid, those of them still running.
type reg struct {
	tmp string // private temp dir

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
// they stop their workers), then any of their descendants left behind.
func (r *reg) cleanup(grace time.Duration) {
	r.mu.Lock()
	ps := make([]*proc, 0, len(r.procs))
	roots := make([]int, 0, len(r.procs))
	for pid, p := range r.procs {
		ps = append(ps, p)
		roots = append(roots, pid)
	}
	r.mu.Unlock()
	left := descendants(roots)
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.stop(syscall.SIGTERM, grace)
		}()
	}
	wg.Wait()
	for pid, start := range left {
		if st, ok := startTime(pid); ok && st == start {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	r.sweep()
}

// sweep kills workers that a manager left behind and that are no longer
// its descendants (reparented when it exited before them, as circusd can
// when stopped while respawning): every process whose program is in the
// run's private temp dir was started for this run.
func (r *reg) sweep() {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmd, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		argv0, _, _ := strings.Cut(string(cmd), "\x00")
		if strings.HasPrefix(argv0, r.tmp+string(os.PathSeparator)) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// descendants maps every live descendant of roots to its start time, so a
// pid reused later is never mistaken for it.
func descendants(roots []int) map[int]string {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	kids := map[int][]int{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, ok := parentOf(pid); ok {
			kids[ppid] = append(kids[ppid], pid)
		}
	}
	out := map[int]string{}
	stack := append([]int(nil), roots...)
	for len(stack) > 0 {
		pid := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, k := range kids[pid] {
			if _, seen := out[k]; !seen {
				if st, ok := startTime(k); ok {
					out[k] = st
				}
				stack = append(stack, k)
			}
		}
	}
	return out
}

// statFields returns the fields of /proc/pid/stat after the command name.
func statFields(pid int) ([]string, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil || isZombie(b) {
		return nil, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, false
	}
	f := strings.Fields(string(b[i+1:]))
	return f, len(f) > 19
}

func parentOf(pid int) (int, bool) {
	f, ok := statFields(pid)
	if !ok {
		return 0, false
	}
	ppid, err := strconv.Atoi(f[1])
	return ppid, err == nil
}

func startTime(pid int) (string, bool) {
	f, ok := statFields(pid)
	if !ok {
		return "", false
	}
	return f[19], true
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
