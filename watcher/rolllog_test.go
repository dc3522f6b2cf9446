package watcher

import (
	"fmt"
	"strings"
	"testing"

	"github.com/poold/poold/configs"
)

// TestRollingReloadDoneOnceTheOldWorkersAreGone: the log says a rolling
// reload is done only once its old workers have exited. It said so when
// they were only told to stop, up to graceful_timeout before, and a
// reader took an old worker's slow stop for time after the reload.
func TestRollingReloadDoneOnceTheOldWorkersAreGone(t *testing.T) {
	w, _, buf := startedNotify(t, spec(2))
	w.Reload(true, false)
	readyStarting(w)
	old := pidsIn(w, ProcStopping)
	if len(old) != 2 {
		t.Fatalf("stopping %v, want the 2 old workers", old)
	}
	if log := buf.String(); strings.Contains(log, "rolling reload done") || !strings.Contains(log, "rolling reload: new workers ready, stopping the old ones: watcher=web old=2") {
		t.Errorf("log with the old workers still stopping:\n%s\nwant it to say they are stopping, not that the reload is done", log)
	}
	w.Exited(old[0], -15)
	if strings.Contains(buf.String(), "rolling reload done") {
		t.Errorf("log with one old worker left:\n%s\nwant no \"done\" yet", buf.String())
	}
	w.Exited(old[1], -15)
	if log := buf.String(); strings.Count(log, "rolling reload done: the old workers are gone") != 1 {
		t.Errorf("log once the old workers are gone:\n%s\nwant \"rolling reload done: the old workers are gone\" once", log)
	}
}

// A rollout in several batches (max_surge below 100 %) logs each batch's
// stop: it logged only the last, when the rollout ended, and the earlier
// SIGTERMs showed only as events (r61 longconn trial, finding 4).
func TestRollingReloadLogsEveryBatch(t *testing.T) {
	s := spec(3)
	s.MaxSurge = configs.SurgeOf(1)
	w, _, buf := startedNotify(t, s)
	w.Reload(true, false)
	for batch := 1; batch <= 3; batch++ {
		readyStarting(w)
		stopping := pidsIn(w, ProcStopping)
		want := fmt.Sprintf("rolling reload: new workers ready, stopping the old ones: watcher=web old=1 graceful_timeout=30s batch=%d old_left=%d pids=[%d]",
			batch, 3-batch, stopping[0])
		if len(stopping) != 1 || !strings.Contains(buf.String(), want) {
			t.Fatalf("batch %d: stopping %v, log:\n%s\nwant %q", batch, stopping, buf.String(), want)
		}
		w.Exited(stopping[0], -15)
	}
	if log := buf.String(); strings.Count(log, "stopping the old ones") != 3 || strings.Count(log, "rolling reload done: the old workers are gone") != 1 {
		t.Errorf("log:\n%s\nwant 3 batch lines and the done line once", log)
	}
}

// An upgrade in the middle of a reload's drain: the new image says the
// reload is done once the old workers it adopted are gone. It never did,
// as the old image's list of them was not handed over (r61 longconn
// trial, finding 5).
func TestRollingReloadDoneAfterAnUpgradeDuringTheDrain(t *testing.T) {
	w, h := startedReady(t, 2)
	w.Reload(true, false)
	readyStarting(w)
	old := pidsIn(w, ProcStopping)
	if len(old) != 2 || w.Frozen() != nil {
		t.Fatalf("stopping %v, frozen %v: want the 2 old workers draining and a watcher to hand over", old, w.Frozen())
	}
	st := throughJSON(t, w.Snapshot(h.now))
	w2, _, buf := newLoggedWatcher(t, st.Spec)
	if err := w2.Adopt(st); err != nil {
		t.Fatal(err)
	}
	w2.Exited(old[0], -15)
	if strings.Contains(buf.String(), "rolling reload done") {
		t.Errorf("log with one old worker left:\n%s\nwant no \"done\" yet", buf.String())
	}
	w2.Exited(old[1], -9)
	if log := buf.String(); strings.Count(log, "rolling reload done: the old workers are gone") != 1 {
		t.Errorf("the new image's log once the old workers are gone:\n%s\nwant \"rolling reload done: the old workers are gone\" once", log)
	}
}
