package watcher

import (
	"context"
	"testing"
	"time"
)

// An exec health probe runs on a goroutine of its own (host.Check), and
// looked its command up as the watcher's user by reading w.cred, which
// the loop writes at every spawn (refreshCred, since users are looked up
// again at each start): a data race, seen under -race in
// arbiter's TestSharedOutageNeverFailsASlot about once in 10 runs. The
// probe now takes the user of when it was built. Run with -race.
func TestExecProbeDoesNotReadCredOfLaterSpawns(t *testing.T) {
	s := spec(1)
	s.HealthCheck, s.HealthCmd = "exec", "true"
	w, _ := newWatcher(t, s)
	pr, err := w.probe(s.HealthCheck, s.HealthURL, s.HealthAddress, s.HealthCmd, &Process{Pid: 1, Wid: 1})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		done <- pr.Check(ctx)
	}()
	if err := w.refreshCred(); err != nil { // what the next spawn does
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("exec probe of true: %v", err)
	}
}
