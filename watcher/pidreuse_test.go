package watcher

import (
	"fmt"
	"syscall"
	"testing"

	"github.com/poold/poold/watcher/spawn"
)

// A worker being stopped (decr) whose pid the kernel gives the worker an
// incr starts, before the stopped one's exit comes (its cgroup still
// emptying): the late exit ends the stopped worker, and the new one stays
// a worker of the watcher, counted once.
func TestLateExitOfAReusedPidEndsTheEarlierProcess(t *testing.T) {
	w, h := newWatcher(t, spec(2))
	w.Start()
	stopped := pidsIn(w, ProcReady)[1]
	w.SetTarget(1)
	if got := pidsIn(w, ProcStopping); fmt.Sprint(got) != fmt.Sprint([]int{stopped}) {
		t.Fatalf("after decr: stopping %v, want [%d]", got, stopped)
	}
	h.nextPid = stopped - 1 // the next spawn gets the stopping worker's pid
	w.SetTarget(2)
	if got := pidsIn(w, ProcReady); fmt.Sprint(got) != fmt.Sprint([]int{pidsIn(w, ProcReady)[0], stopped}) {
		t.Fatalf("after incr: ready %v, want the new worker on pid %d", got, stopped)
	}
	spawned := len(h.spawned)

	w.EndedEarlier(stopped, End{Exit: spawn.Exit{Signal: syscall.SIGTERM}})
	if got := pidsIn(w, ProcReady); len(got) != 2 || got[1] != stopped {
		t.Errorf("after the stopped worker's late exit: ready %v, want pid %d still ready", got, stopped)
	}
	if len(w.earlier) != 0 || len(h.spawned) != spawned {
		t.Errorf("earlier %v, spawned %v after %d: the late exit must end the earlier process, and start nothing", w.earlier, h.spawned, spawned)
	}
	checkWidCounts(w)
	checkTally(w)

	// The new worker's own exit is Ended's.
	w.Exited(stopped, 1)
	if len(h.spawned) == spawned && len(w.Slots()) == 0 {
		t.Errorf("the new worker's exit went unseen")
	}
}
