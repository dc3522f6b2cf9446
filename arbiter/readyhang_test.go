package arbiter

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/workertest"
)

// hungWorker is watcher web of 2 Go workers that hold the inherited
// socket and never take it (workertest mode "sleep"): a Go server that
// deadlocks before it serves, as a lock taken twice or a dial that
// never returns leaves one. /proc shows it waiting on nothing.
func hungWorker(readyTimeout time.Duration) configs.Watcher {
	w := testWatcher("web", "sleep", 2)
	w.Sockets = []string{"web"}
	w.ReadyTimeout = readyTimeout
	return w
}

// A reload to workers that hang before they serve: readiness spawn did
// not see them waiting, counted them ready at the bound, and the reload
// stopped every serving worker and answered ok; status said active, and
// nothing answered on the socket (r57b-oncall H1). A new worker of a
// rolling reload that has shown no sign of serving by ready_timeout has
// failed its start: the reload is abandoned, saying why and which
// readiness to use instead, and the old workers serve on.
func TestReloadToWorkersThatHangBeforeServingKeepsOldWorkers(t *testing.T) {
	checkReloadKeepsOldWorkers(t, hungWorker(3*time.Second), `set readiness = "notify", "http" (ready_url) or "delay" for watcher "web"`)
}

// The same through a waited set, which starts the same rollout.
func TestSetToWorkersThatHangBeforeServingKeepsOldWorkers(t *testing.T) {
	good := testWatcher("web", "serve", 2)
	good.Sockets = []string{"web"}
	good.ReadyTimeout = 3 * time.Second
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{good}}, Options{})
	pids := readyPids(t, h, "web", 2)
	r := h.a.Do(context.Background(), Request{ID: "s", Command: "set", Properties: map[string]any{"name": "web", "waiting": true,
		"options": map[string]any{"env": []any{workertest.Env + "=sleep", quickExit}}}})
	if r["status"] == "ok" || !strings.Contains(fmt.Sprint(r["reason"]), "not seen waiting for connections") {
		t.Fatalf("waited set to workers that hang: %v; want an error saying they were not seen waiting", r)
	}
	// The rollback put the old spec back; no later set or reload did
	// (docs4 trial: the reply claimed one).
	if reason := fmt.Sprint(r["reason"]); strings.Contains(reason, "no longer runs what this set gave it") {
		t.Errorf("waited set abandoned by its own rollback: %q; want only the abandon reason", reason)
	}
	checkStillServing(t, h, pids)
}

// Outside a rolling reload no serving worker depends on such a worker:
// at a first start it counts as ready at the bound, as it always did
// (a server /proc cannot show waiting would otherwise be stopped and
// started again for good), but with a warning that says what to do.
func TestWorkerThatHangsAtItsFirstStartCountsReadyWithAWarning(t *testing.T) {
	w := hungWorker(2 * time.Second)
	w.NumProcesses = 1
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{w}}, Options{})
	h.next("ready", nil)
	if log := h.log.String(); !strings.Contains(log, "[WARN]") || !strings.Contains(log, "counting it ready, as no rolling reload waits on it") ||
		!strings.Contains(log, `set readiness "notify", "http" or "delay"`) {
		t.Errorf("ready without a warning that says what to do:\n%s", log)
	}
}
