package arbiter

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher/proctest"
	"golang.org/x/sys/unix"
)

// startLostMasterPlain is startLostMaster without cgroups (unless opts
// has them: then it needs them): the master's worker stays in the
// master's process group once a SIGKILL ended it.
func startLostMasterPlain(t *testing.T, mode string, grace time.Duration, opts Options) lost {
	t.Helper()
	dir := t.TempDir()
	w := configs.DefaultWatcher("m")
	w.Cmd = proctest.Tool(t, "/usr/bin/python3", "python3")
	w.Args = []string{"-c", forkingMaster, dir, mode, "lose"}
	w.GracefulTimeout = grace
	bus := events.NewBus(nil)
	sub := bus.Subscribe(1000)
	t.Cleanup(sub.Close)
	opts.Events = bus
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, opts)
	if !opts.NoCgroups {
		needCgroups(t, h)
	}
	ev := h.next("reap", func(e events.Event) bool { return e.Watcher == "m" })
	child := readPid(t, dir, "child.pid")
	t.Cleanup(func() { _ = syscall.Kill(child, syscall.SIGKILL) })
	why := fmt.Sprint(ev.Fields["exit_reason"])
	want := fmt.Sprintf("killed by signal KILL, leaving 1 process(es) running, which poold sent TERM (SIGKILL to those left after graceful_timeout %v)", grace)
	if why != want {
		t.Errorf("exit_reason %q, want %q", why, want)
	}
	master, _ := ev.Fields["process_pid"].(int)
	return lost{h, dir, child, master, sub.C()}
}

// lost is a forkingMaster's run: the master's dir, its worker's pid and its
// own. Its left_ended events come on left, a subscription of their own:
// the harness's drops the events before one it waits for.
type lost struct {
	h      *harness
	dir    string
	child  int
	master int
	left   <-chan events.Event
}

// leftEnded waits for the left_ended event of watcher m on c.
func leftEnded(t *testing.T, c <-chan events.Event) events.Event {
	t.Helper()
	deadline := time.After(hang)
	for {
		select {
		case ev := <-c:
			if ev.Kind == events.KindLeftEnded && ev.Watcher == "m" {
				return ev
			}
		case <-deadline:
			t.Fatalf("no left_ended event within %v", hang)
		}
	}
}

// Without cgroups, a gunicorn master killed by kill -9 left its workers
// in its process group, which poold SIGKILLed at once, cutting their
// requests. They now get stop_signal, as in a cgroup, while the next
// master starts, and an event says when they have ended.
func TestKilledMastersWorkerInItsGroupGetsStopSignalAndFinishes(t *testing.T) {
	l := startLostMasterPlain(t, "finish", time.Hour, Options{NoCgroups: true})
	h, dir, child, left := l.h, l.dir, l.child, l.left
	h.spawned() // the replacement, without waiting for the hour
	proctest.Eventually(t, "the dead master's worker to get SIGTERM", func() bool {
		_, err := os.Stat(filepath.Join(dir, "term"))
		return err == nil
	})
	proctest.Eventually(t, "the dead master's worker to exit", func() bool { return !proctest.Alive(child) })
	ev := leftEnded(t, left)
	if ev.Fields["left"] != 1 || ev.Fields["killed"] != 0 || ev.Fields["graceful_timeout"] != 3600.0 {
		t.Errorf("left_ended %v, want left 1, killed 0, graceful_timeout 3600", ev.Fields)
	}
	if !strings.Contains(h.log.String(), "what a worker killed by a signal left has ended within graceful_timeout") {
		t.Errorf("no log line says the leftovers ended")
	}
}

// One that lingers is SIGKILLed at graceful_timeout, not before, beside
// the next master, which survives it.
func TestKilledMastersLingeringWorkerInItsGroupIsKilledAfterGrace(t *testing.T) {
	const grace = 8 * time.Second
	l := startLostMasterPlain(t, "linger", grace, Options{NoCgroups: true})
	h, dir, child, left := l.h, l.dir, l.child, l.left
	next := h.spawned()
	proctest.Eventually(t, "the dead master's worker to get SIGTERM", func() bool {
		_, err := os.Stat(filepath.Join(dir, "term"))
		return err == nil
	})
	if !proctest.Alive(child) {
		t.Fatalf("the dead master's worker %d was killed before graceful_timeout", child)
	}
	ev := leftEnded(t, left)
	if ev.Fields["left"] != 1 || ev.Fields["killed"] != 1 {
		t.Errorf("left_ended %v, want left 1, killed 1", ev.Fields)
	}
	if w, _ := ev.Fields["waited"].(float64); w < grace.Seconds() {
		t.Errorf("left_ended waited %vs, less than graceful_timeout %v", w, grace)
	}
	proctest.Eventually(t, "the lingering worker to be gone", func() bool { return !proctest.Alive(child) })
	if !strings.Contains(h.log.String(), "killed=1") {
		t.Errorf("no log line says poold killed 1 leftover")
	}
	if !proctest.Alive(next) {
		t.Errorf("the next master %d was killed with its predecessor's leftover", next)
	}
}

// In a cgroup too, an event says when they have ended.
func TestKilledMastersWorkerInItsCgroupEndsWithAnEvent(t *testing.T) {
	l := startLostMasterPlain(t, "finish", time.Hour, Options{})
	ev := leftEnded(t, l.left)
	if ev.Fields["process_pid"] != l.master || ev.Fields["process_id"] != 1 || ev.Fields["left"] != 1 || ev.Fields["killed"] != 0 {
		t.Errorf("left_ended %v, want process_pid %d, process_id 1, left 1, killed 0", ev.Fields, l.master)
	}
}

// A poold that stops while such leftovers drain waits for them up to
// their graceful_timeout, and says whose they are and for how long. As
// the subreaper of its workers' orphans (its own binary) it stopped
// them, its children by then, with its other strays at once: a second
// SIGTERM, and SIGKILL 2 s later.
func TestShutdownWaitsForTheLeftoversItNames(t *testing.T) {
	t.Cleanup(func() { // after the arbiter has stopped: cleanups run last first
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0); err != nil {
			t.Errorf("stop being a subreaper: %v", err)
		}
	})
	const grace = 12 * time.Second // the TERM handled and the quit sent within it, at load ~100 too
	l := startLostMasterPlain(t, "linger", grace, Options{NoCgroups: true, ReapOrphans: true})
	h, dir, child := l.h, l.dir, l.child
	h.spawned()
	proctest.Eventually(t, "the dead master's worker to get SIGTERM", func() bool {
		_, err := os.Stat(filepath.Join(dir, "term"))
		return err == nil
	})
	h.do("quit", nil)
	want := fmt.Sprintf(`workers="watcher \"m\" pid %d"`, l.master)
	proctest.Eventually(t, "the shutdown to name the leftovers", func() bool {
		l := h.log.String()
		return strings.Contains(l, "waiting for what workers killed by a signal left to end") && strings.Contains(l, want) &&
			strings.Contains(l, "at_most=")
	})
	proctest.Eventually(t, "poold to kill the lingering worker at graceful_timeout", func() bool {
		return strings.Contains(h.log.String(), "poold killed what a worker killed by a signal left, still running at graceful_timeout")
	})
	if b, _ := os.ReadFile(filepath.Join(dir, "term")); string(b) != "x" {
		t.Errorf("the dead master's worker got %d SIGTERMs, want 1", len(b))
	}
	if strings.Contains(h.log.String(), "stopping poold's child processes that are no worker's") {
		t.Errorf("poold stopped the leftovers with its strays as it exited")
	}
	proctest.Eventually(t, "the lingering worker to be gone", func() bool { return !proctest.Alive(child) })
}
