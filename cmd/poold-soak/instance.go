package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/arbiter/controller/ctlclient"
)

// instance is one poold the soak started.
type instance struct {
	name     string
	dir      string
	cmd      *exec.Cmd
	endpoint string
	cg       *cgroup // nil: not in a cgroup of the soak's
	done     chan struct{}
	err      error // what Wait returned, once done is closed
}

// startPoold starts poold on config text (ENDPOINT stands for a private
// control endpoint) with stderr as its stdout and stderr, inside cg when
// not nil: a shell moves itself into the cgroup, then execs poold, so
// poold and every worker are in it from the start.
func startPoold(name, poold, dir, config string, stderr *os.File, cg *cgroup) (*instance, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	in := &instance{name: name, dir: dir, endpoint: "ipc://" + filepath.Join(dir, "c.sock"), cg: cg, done: make(chan struct{})}
	config = strings.ReplaceAll(config, "ENDPOINT", strconv.Quote(in.endpoint))
	config = "[web]\nenabled = false\n" + config
	path := filepath.Join(dir, "poold.toml")
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		return nil, err
	}
	if cg != nil {
		in.cmd = exec.Command("/bin/sh", "-c", `echo $$ > "$1" && exec "$2" "$3"`, "sh",
			filepath.Join(cg.dir, "cgroup.procs"), poold, path)
	} else {
		in.cmd = exec.Command(poold, path)
	}
	in.cmd.Stdout, in.cmd.Stderr = stderr, stderr
	if err := in.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		in.err = in.cmd.Wait()
		close(in.done)
	}()
	return in, nil
}

func (in *instance) pid() int { return in.cmd.Process.Pid }

// dial connects to the control endpoint, waiting up to d for poold.
func (in *instance) dial(ctx context.Context, d time.Duration) (*ctlclient.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return ctlclient.DialContext(ctx, in.endpoint)
}

// do runs one command on c, bounded by a generous timeout.
func do(ctx context.Context, c *ctlclient.Client, cmd string, props map[string]any) (arbiter.Reply, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	r, err := c.Do(ctx, arbiter.Request{Command: cmd, Properties: props})
	if err == nil && r["status"] == "error" {
		err = fmt.Errorf("%s: %v", cmd, r["reason"])
	}
	return r, err
}

// pids lists the workers of watcher name.
func pids(ctx context.Context, c *ctlclient.Client, name string) ([]int, error) {
	r, err := do(ctx, c, "list", map[string]any{"name": name})
	if err != nil {
		return nil, err
	}
	raw, _ := r["pids"].([]any)
	out := make([]int, 0, len(raw))
	for _, p := range raw {
		if f, ok := p.(float64); ok {
			out = append(out, int(f))
		}
	}
	return out, nil
}

// waitPids waits until watcher name has n workers.
func waitPids(ctx context.Context, c *ctlclient.Client, name string, n int, d time.Duration) error {
	deadline := time.Now().Add(d)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		ps, err := pids(ctx, c, name)
		if err == nil && len(ps) == n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("watcher %s: %d workers after %v, want %d (%v)", name, len(ps), d, n, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// stop sends SIGTERM and waits up to grace for poold to exit, then kills
// it. It reports an error unless poold exited 0 on the SIGTERM.
func (in *instance) stop(grace time.Duration) error {
	select {
	case <-in.done:
		return fmt.Errorf("%s: poold had already exited: %v", in.name, in.err)
	default:
	}
	_ = in.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-in.done:
	case <-t.C:
		_ = in.cmd.Process.Kill()
		<-in.done
		return fmt.Errorf("%s: poold did not exit within %v of SIGTERM; killed", in.name, grace)
	}
	if in.err != nil {
		return fmt.Errorf("%s: poold exited: %v", in.name, in.err)
	}
	return nil
}

// figures are what the soak watches for leaks.
type figures struct {
	fds, threads int
	rssKB        int
}

func (f figures) String() string {
	return fmt.Sprintf("fds %4d  threads %3d  rss %6.1f MiB", f.fds, f.threads, float64(f.rssKB)/1024)
}

// measure reads pid's fds, threads and RSS from /proc.
func measure(pid int) (figures, error) {
	var f figures
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return f, err
	}
	f.fds = len(ents)
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return f, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, ":")
		fields := strings.Fields(v)
		if len(fields) == 0 {
			continue
		}
		switch k {
		case "Threads":
			f.threads, _ = strconv.Atoi(fields[0])
		case "VmRSS":
			f.rssKB, _ = strconv.Atoi(fields[0])
		}
	}
	if f.threads == 0 {
		return f, errors.New("no Threads in /proc/PID/status")
	}
	return f, nil
}
