package arbiter

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher"
	"github.com/poold/poold/watcher/spawn"
)

// host is the arbiter as the watchers see it.
type host struct{ a *Arbiter }

func (h host) Now() time.Time { return time.Now() }

func (h host) Spawn(w *watcher.Watcher, wid int, spec spawn.ProcSpec) (int, error) {
	a := h.a
	if a.stopping {
		return 0, errors.New("poold is stopping")
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return 0, err
	}
	spec.Stdout, spec.Stderr = outW, errW
	p, err := a.spawner.Start(spec)
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return 0, err
	}
	a.output.follow(w.Spec(), wid, p.Pid, outR, errR)
	a.owner[p.Pid] = w
	a.watchExit(p)
	return p.Pid, nil
}

// watchExit posts p's exit to the loop. The goroutine parks in the
// netpoller on p's pidfd, holding no OS thread; only where pidfds do not
// work does it block a thread in wait4 (logged once). Run waits for it.
func (a *Arbiter) watchExit(p *spawn.Proc) {
	if err := p.Fallback(); err != nil && !a.waitFallback {
		a.waitFallback = true
		a.log.Warn("no pidfd for workers: each one's exit is awaited on a thread of its own, "+
			"so under a pids limit poold needs one more pid per worker", "error", err)
	}
	a.waits.Add(1)
	go func() {
		defer a.waits.Done()
		code := -1
		if ex, err := p.Wait(); err == nil {
			code = ex.Status()
		} else {
			a.log.Error("lost track of a worker", "pid", p.Pid, "error", err)
		}
		a.post(exitMsg{pid: p.Pid, code: code})
	}()
}

func (h host) Signal(pid int, sig syscall.Signal) error {
	if err := syscall.Kill(-pid, sig); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			// The group leader may have moved itself out; signal the pid.
			return syscall.Kill(pid, sig)
		}
		return err
	}
	return nil
}

func (h host) After(d time.Duration, t watcher.Timer) {
	a := h.a
	time.AfterFunc(d, func() { a.post(timerMsg{t}) })
}

func (h host) Check(c watcher.Check, timeout time.Duration, fn func(ctx context.Context) error) {
	a := h.a
	a.bg.Add(1)
	go func() {
		defer a.bg.Done()
		ctx, cancel := context.WithTimeout(a.runCtx, timeout)
		defer cancel()
		err := fn(ctx)
		if err != nil && ctx.Err() != nil && a.runCtx.Err() == nil {
			err = fmt.Errorf("%w (gave up after %v)", err, timeout)
		}
		a.post(checkMsg{c, err})
	}()
}

func (h host) Publish(name string, kind events.Kind, fields map[string]any) {
	h.a.bus.Publish(name, kind, fields)
}
