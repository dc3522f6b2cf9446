package arbiter

import (
	"fmt"
	"os"
	"syscall"
	"testing"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/proctest"
)

// TestSignalGoesOnPastAWorkerThatJustEnded: `signal web TERM` sent while
// one worker had just ended (its exit not yet seen by the loop) failed
// with "no such process" for that pid and stopped there: the workers
// after it never got the signal. The one that ended needs none; the
// others get it and the reply is ok.
func TestSignalGoesOnPastAWorkerThatJustEnded(t *testing.T) {
	h := start(t, &configs.Config{Watchers: []configs.Watcher{testWatcher("web", "sleep", 3)}}, Options{})
	h.spawns(3)
	pids := h.do("list", map[string]any{"name": "web"})["pids"].([]int)
	held, release := make(chan struct{}), make(chan struct{})
	h.a.post(funcMsg{func() { close(held); <-release }})
	<-held
	sig := doAsync(h, "signal", map[string]any{"name": "web", "signum": "TERM"})
	proctest.Eventually(t, "the signal command queued behind the held loop", func() bool { return len(h.a.inbox) > 0 })
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	proctest.Eventually(t, fmt.Sprintf("worker %d reaped", pids[0]), func() bool {
		_, err := os.Stat(fmt.Sprintf("/proc/%d", pids[0]))
		return os.IsNotExist(err)
	})
	close(release)
	if r := waitReply(t, sig); r["status"] != "ok" {
		t.Errorf("signal TERM while worker %d had just ended: %v, want ok", pids[0], r)
	}
	for _, pid := range pids[1:] {
		proctest.Eventually(t, fmt.Sprintf("worker %d ends on the TERM", pid), func() bool { return !proctest.Alive(pid) })
	}
}

// "pid": 0 is every worker, as Circus reads it: a worker that had just
// ended stopped the signal there too (r50b review).
func TestSignalPidZeroGoesOnPastAWorkerThatJustEnded(t *testing.T) {
	h := start(t, &configs.Config{Watchers: []configs.Watcher{testWatcher("web", "sleep", 3)}}, Options{})
	h.spawns(3)
	pids := h.do("list", map[string]any{"name": "web"})["pids"].([]int)
	held, release := make(chan struct{}), make(chan struct{})
	h.a.post(funcMsg{func() { close(held); <-release }})
	<-held
	sig := doAsync(h, "signal", map[string]any{"name": "web", "signum": "TERM", "pid": 0})
	proctest.Eventually(t, "the signal queued", func() bool { return len(h.a.inbox) > 0 })
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	proctest.Eventually(t, "the first worker reaped", func() bool {
		_, err := os.Stat(fmt.Sprintf("/proc/%d", pids[0]))
		return os.IsNotExist(err)
	})
	close(release)
	if r := waitReply(t, sig); r["status"] != "ok" {
		t.Errorf("signal pid 0 while worker %d had just ended: %v, want ok", pids[0], r)
	}
	for _, pid := range pids[1:] {
		proctest.Eventually(t, fmt.Sprintf("worker %d ended by the TERM", pid), func() bool { return !proctest.Alive(pid) })
	}
}
