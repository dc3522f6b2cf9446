package watcher

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// A second reload while one rolls stops the first one's new workers that
// are not ready yet; their exit events read "killed by signal TERM",
// and the log said nothing of why (r64 overlap trial). It says so now,
// naming them.
func TestReloadDuringRolloutSaysItStopsTheUnreadyNewWorkers(t *testing.T) {
	s := spec(2)
	w, _, log := startedNotify(t, s)
	first := w.Spec()
	first.Args = []string{"first"}
	if err := w.Update(first, Sockets{}); err != nil {
		t.Fatal(err)
	}
	unready := pidsIn(w, ProcStarting)
	if len(unready) == 0 {
		t.Fatalf("the first rollout started no worker: %v", w.Processes())
	}
	second := w.Spec()
	second.Args = []string{"second"}
	if err := w.Update(second, Sockets{}); err != nil {
		t.Fatal(err)
	}
	want := "unready_stopped=" + strings.ReplaceAll(fmt.Sprint(unready), " ", ", ")
	if !strings.Contains(log.String(), "rolling reload started again before the one in flight finished") || !strings.Contains(log.String(), want) {
		t.Errorf("log does not say the first rollout's new workers were stopped (%s):\n%s", want, log)
	}
	stopping := pidsIn(w, ProcStopping)
	for _, p := range unready {
		if !slices.Contains(stopping, p) {
			t.Errorf("the first rollout's new worker %d is not stopping: %v", p, w.Processes())
		}
	}
}
