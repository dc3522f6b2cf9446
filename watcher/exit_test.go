package watcher

import (
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/watcher/spawn"
)

// Every way a worker ends has its reason, in the reap event and in its
// slot's last exit (status, the console).
func TestExitReasons(t *testing.T) {
	for _, c := range []struct {
		name       string
		end        func(w *Watcher, h *fakeHost, pid int)
		code, text string
		noMax      bool // the watcher has no memory_max
	}{
		{"exit status", func(w *Watcher, h *fakeHost, pid int) { w.Exited(pid, 3) },
			ReasonExit, "exited with status 3", false},
		{"signal with core", func(w *Watcher, h *fakeHost, pid int) {
			w.Ended(pid, End{Exit: spawn.Exit{Signal: syscall.SIGSEGV, Core: true}})
		}, ReasonSignal, "killed by signal SEGV (core dumped)", false},
		{"oom", func(w *Watcher, h *fakeHost, pid int) {
			w.Ended(pid, End{Exit: spawn.Exit{Signal: syscall.SIGKILL}, OOM: 1})
		}, ReasonOOM, "killed by the OOM killer (memory_max 16777216 bytes)", false},
		// r58b: poold's cgroup's limit, far below the worker's memory_max
		// of 1 GiB, which it never reached: the reason named memory_max.
		{"oom of poold's cgroup under memory_max", func(w *Watcher, h *fakeHost, pid int) {
			w.Ended(pid, End{Exit: spawn.Exit{Signal: syscall.SIGKILL}, OOM: 1, OOMAbove: true,
				OuterOOM: "poold's cgroup /c (memory limit 9 bytes)"})
		}, ReasonOOM, "killed by the OOM killer, not at its memory_max (16777216 bytes, not reached): out of memory: " +
			"poold's cgroup /c (memory limit 9 bytes); raise that limit, or lower memory_max below it so that this worker's own limit is the one it meets", false},
		{"oom of a child", func(w *Watcher, h *fakeHost, pid int) {
			w.Ended(pid, End{Exit: spawn.Exit{Code: 1}, OOM: 2})
		}, ReasonExit, "exited with status 1 (the OOM killer killed 2 process(es) of its cgroup)", false},
		{"graceful timeout", func(w *Watcher, h *fakeHost, pid int) {
			w.Stop()
			for _, tm := range h.takeTimers(TimerKill) {
				w.Fire(tm)
			}
			w.Exited(pid, -int(syscall.SIGKILL))
		}, ReasonTimeout, "killed by poold after graceful_timeout (2s)", false},
		// poold's own SIGKILL is not the OOM killer's, even in a cgroup
		// where the OOM killer took a child earlier (a gunicorn worker).
		{"graceful timeout after a child's oom", func(w *Watcher, h *fakeHost, pid int) {
			w.Stop()
			for _, tm := range h.takeTimers(TimerKill) {
				w.Fire(tm)
			}
			w.Ended(pid, End{Exit: spawn.Exit{Signal: syscall.SIGKILL}, OOM: 1})
		}, ReasonTimeout, "killed by poold after graceful_timeout (2s) (the OOM killer killed 1 process(es) of its cgroup)", false},
		// r62 H1: a kill -9 of a master whose child's OOM kill poold had
		// reported while it ran was called an OOM kill.
		{"kill -9 after a reported child's oom", func(w *Watcher, h *fakeHost, pid int) {
			w.Ended(pid, End{Exit: spawn.Exit{Signal: syscall.SIGKILL}, OOM: 1, OOMTold: 1})
		}, ReasonSignal, "killed by signal KILL (the OOM killer killed 1 child process(es) of its cgroup earlier, reported then)", false},
		{"oom after a reported child's oom", func(w *Watcher, h *fakeHost, pid int) {
			w.Ended(pid, End{Exit: spawn.Exit{Signal: syscall.SIGKILL}, OOM: 2, OOMTold: 1})
		}, ReasonOOM, "killed by the OOM killer (memory_max 16777216 bytes)", false},
		// A KILL of the signal command in the moment a child met the
		// OOM killer, before poold reported it: poold's KILL.
		{"signal command KILL", func(w *Watcher, h *fakeHost, pid int) {
			if err := w.Signal(pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			w.Ended(pid, End{Exit: spawn.Exit{Signal: syscall.SIGKILL}, OOM: 1})
		}, ReasonSignal, "killed by signal KILL, sent by poold's signal command (the OOM killer killed 1 process(es) of its cgroup)", false},
		{"killed at once", func(w *Watcher, h *fakeHost, pid int) {
			w.Kill()
			w.Exited(pid, -int(syscall.SIGKILL))
		}, ReasonSignal, "killed by signal KILL", false},
		// A container's memory limit, with no memory_max of the worker's.
		{"oom of poold's cgroup", func(w *Watcher, h *fakeHost, pid int) {
			w.Ended(pid, End{Exit: spawn.Exit{Signal: syscall.SIGKILL}, OuterOOM: "poold's cgroup /c (memory limit 9 bytes)"})
		}, ReasonOOM, "killed by the OOM killer (it has no memory_max; out of memory: poold's cgroup /c (memory limit 9 bytes); " +
			"raise that limit, or set memory_max on the watcher so that its worker gets a limit of its own)", true},
		// cgroup v2 counts it in the worker's cgroup too, which has a
		// memory controller for another watcher's memory_max.
		{"oom counted in its cgroup without memory_max", func(w *Watcher, h *fakeHost, pid int) {
			w.Ended(pid, End{Exit: spawn.Exit{Signal: syscall.SIGKILL}, OOM: 1})
		}, ReasonOOM, "killed by the OOM killer (it has no memory_max; out of memory: the cgroup poold runs in, or the machine; " +
			"raise that limit, or set memory_max on the watcher so that its worker gets a limit of its own)", true},
		{"graceful timeout while the container is out of memory", func(w *Watcher, h *fakeHost, pid int) {
			w.Stop()
			for _, tm := range h.takeTimers(TimerKill) {
				w.Fire(tm)
			}
			w.Ended(pid, End{Exit: spawn.Exit{Signal: syscall.SIGKILL}, OuterOOM: "poold's cgroup /c (memory limit 9 bytes)"})
		}, ReasonTimeout, "killed by poold after graceful_timeout (2s)", true},
		// A shell whose fork its pids limit refused: "Cannot fork",
		// status 2, its other children left. Not a daemonizing program.
		{"pids limit", func(w *Watcher, h *fakeHost, pid int) {
			w.Ended(pid, End{Exit: spawn.Exit{Code: 2}, Left: 3, LeftKilled: true, PidsRefused: 1})
		}, ReasonExit, "exited with status 2, leaving 3 process(es) running, which poold killed; a pids limit refused 1 fork(s) " +
			"or thread start(s) of its cgroup: raise the watcher's pids_max (4) or a pids limit above it (poold's, the container's), " +
			"or make the program start fewer processes and threads", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := spec(1)
			if !c.noMax {
				s.MemoryMax = 16 << 20
				s.PidsMax = 4
			}
			s.GracefulTimeout = 2 * time.Second
			w, h := newWatcher(t, s)
			w.Start()
			c.end(w, h, w.Pids()[0])
			if len(h.reaps) != 1 {
				t.Fatalf("reap events %v", h.reaps)
			}
			r := h.reaps[0]
			if r["reason"] != c.code || r["exit_reason"] != c.text {
				t.Errorf("reap reason %v %q, want %v %q", r["reason"], r["exit_reason"], c.code, c.text)
			}
			// A stopped watcher has no slots to show.
			if sl := w.Slots(); len(sl) > 0 && sl[0].LastExit != c.text {
				t.Errorf("slot last exit %q, want %q", sl[0].LastExit, c.text)
			}
		})
	}
}

func TestFailedReadinessReason(t *testing.T) {
	s := spec(1)
	s.Readiness = "notify"
	w, h := newWatcher(t, s)
	w.Start()
	pid := w.Pids()[0]
	for _, tm := range h.takeTimers(TimerReadyTimeout) {
		w.Fire(tm)
	}
	w.Exited(pid, -int(syscall.SIGTERM))
	if r := h.reaps[0]; r["reason"] != ReasonReadiness {
		t.Fatalf("reap %v, want reason %q", r, ReasonReadiness)
	}
}

// Exits between HoldSettle and ReleaseSettle are replaced at the release,
// in one reconcile; a nested hold keeps them waiting until the outer one
// ends.
func TestHeldSettleReplacesExitsAtRelease(t *testing.T) {
	w, h := newWatcher(t, spec(4))
	w.Start()
	h.now = h.now.Add(time.Hour) // long-lived workers: no backoff
	pids := w.Pids()
	w.HoldSettle()
	w.HoldSettle()
	for _, pid := range pids[:3] {
		w.Ended(pid, End{Exit: spawn.Exit{Signal: syscall.SIGKILL}})
	}
	w.ReleaseSettle()
	if len(h.spawned) != 4 || len(w.Pids()) != 1 {
		t.Fatalf("held: %d spawns, %d live; want the first 4 and 1 live", len(h.spawned), len(w.Pids()))
	}
	w.ReleaseSettle()
	if len(h.spawned) != 7 || len(w.Pids()) != 4 {
		t.Fatalf("released: %d spawns, %d live; want 7 and 4", len(h.spawned), len(w.Pids()))
	}
}
