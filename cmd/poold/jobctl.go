package main

import (
	"os"
	"os/signal"
	"runtime"
	"sync/atomic"
	"syscall"

	"github.com/hashicorp/go-hclog"
	"github.com/poold/poold/configs"
	"golang.org/x/sys/unix"
)

// SIGTTIN and SIGTTOU stop a process by default. poold run from a shell
// with job control (a terminal, tmux) or under supervisord is in a
// process group whose parent shares its session, so a `kill -TTIN`, the
// way gunicorn's master is told to add a worker, stopped poold for good:
// no respawn, no answer to poolctl, workers unsupervised. poold takes
// both signals and says how it scales instead.

// jobControl answers SIGTTIN in the signal loop. SIGTTOU is
// stopOnTerminalWrites's: a terminal sends it again and again, and copies
// queued before a stop must not be warned of after `fg`.
func (d *daemon) jobControl(sig os.Signal) {
	if sig == syscall.SIGTTOU {
		return
	}
	warnNoScaling(d.log, sig)
}

func warnNoScaling(log hclog.Logger, sig os.Signal) {
	log.Warn("signal ignored: poold does not scale watchers on SIGTTIN and SIGTTOU as gunicorn does; use poolctl incr NAME or poolctl decr NAME",
		"signal", signalName(sig))
}

// signalName is a signal as every JSON log line carries it, a string
// ("TERM"): hclog writes a syscall.Signal as its number, and a log store
// that types a field by its first value drops the lines of the other.
func signalName(sig os.Signal) string {
	if s, ok := sig.(syscall.Signal); ok {
		return configs.SignalName(s)
	}
	return sig.String()
}

// ttouLog is the logger stopOnTerminalWrites warns with of a SIGTTOU
// that no terminal sent (kill -TTOU, gunicorn's way to drop a worker),
// once poold has one.
var ttouLog atomic.Pointer[hclog.Logger]

// stopOnTerminalWrites answers SIGTTOU from the start of the process. A
// terminal sends it when poold, a background job, writes to it with `stty
// tostop` on. Caught, that write is retried at once, again and again, so
// poold does what the default action would: it stops its job until `fg`
// or `bg` continues it. (Go's handler stays once the signal is caught: it
// ignores it when nobody is notified.) It acts as the signal comes,
// whatever poold is doing: taking over from an upgrade's old image,
// reading its config, serving, or writing the error it exits with after
// its signal loop has gone. stop ends it, once poold has written its
// last word.
func stopOnTerminalWrites() (stop func()) {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTTOU)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range c {
			if !backgroundWriter() {
				// On a terminal it may be a late copy of the terminal's
				// own (Go's signal queue delivers after the stop);
				// otherwise someone sent it to scale, as to gunicorn.
				if l := ttouLog.Load(); l != nil && !onTerminal() {
					warnNoScaling(*l, syscall.SIGTTOU)
				}
				continue
			}
			stopJob()
			// Continued: what the write sent before the stop is stale.
			for len(c) > 0 {
				<-c
			}
		}
	}()
	return func() {
		signal.Stop(c) // no send after it returns
		close(c)
		<-done
	}
}

// stopJob stops poold, as the default action of SIGTTOU would, and
// returns once it has been continued. The SIGSTOP goes to the calling
// thread, which takes it before it returns from the call. One sent to the
// process or its job may be taken by another thread while this one runs
// on: it then acted on a second SIGTTOU as if tostop were still on, and
// stopped poold again after `stty -tostop; bg`. Workers have sessions of
// their own; another process of poold's job that writes to the terminal
// gets its own SIGTTOU.
func stopJob() {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	_ = unix.Tgkill(os.Getpid(), unix.Gettid(), unix.SIGSTOP)
}

// onTerminal tells whether poold's stdout or stderr is a terminal.
func onTerminal() bool {
	for _, fd := range []int{1, 2} {
		if _, err := unix.IoctlGetTermios(fd, unix.TCGETS); err == nil {
			return true
		}
	}
	return false
}

// backgroundWriter tells whether poold's stdout or stderr is a terminal
// that stops background writers (tostop) and poold is not its
// foreground process group.
func backgroundWriter() bool {
	for _, fd := range []int{1, 2} {
		tio, err := unix.IoctlGetTermios(fd, unix.TCGETS)
		if err != nil || tio.Lflag&unix.TOSTOP == 0 {
			continue
		}
		if fg, err := unix.IoctlGetInt(fd, unix.TIOCGPGRP); err == nil && fg != syscall.Getpgrp() {
			return true
		}
	}
	return false
}
