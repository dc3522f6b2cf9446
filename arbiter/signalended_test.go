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
// others get it and the reply is ok. "pid": 0 is every worker too, as
// Circus reads it (r50b review: it still stopped there).
func TestSignalGoesOnPastAWorkerThatJustEnded(t *testing.T) {
	for name, props := range map[string]map[string]any{
		"no pid": {"name": "web", "signum": "TERM"},
		"pid 0":  {"name": "web", "signum": "TERM", "pid": 0},
	} {
		t.Run(name, func(t *testing.T) { signalPastAnEndedWorker(t, props) })
	}
}

// signalPastAnEndedWorker sends signal with props to web's 3 workers
// while the loop is held, the first worker ended and reaped meanwhile.
func signalPastAnEndedWorker(t *testing.T, props map[string]any) {
	h := start(t, &configs.Config{Watchers: []configs.Watcher{testWatcher("web", "sleep", 3)}}, Options{})
	h.spawns(3)
	pids := h.do("list", map[string]any{"name": "web"})["pids"].([]int)
	held, release := make(chan struct{}), make(chan struct{})
	h.a.post(funcMsg{func() { close(held); <-release }})
	<-held
	sig := doAsync(h, "signal", props)
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
		t.Errorf("signal %v while worker %d had just ended: %v, want ok", props, pids[0], r)
	}
	for _, pid := range pids[1:] {
		proctest.Eventually(t, fmt.Sprintf("worker %d ends on the TERM", pid), func() bool { return !proctest.Alive(pid) })
	}
}
