package sdnotify

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/watcher/proctest"
)

// told is n as it is once poold's first READY=1 was sent.
func told(n *Notifier) *Notifier {
	n.told.Store(true)
	return n
}

// notUp is a fake whose loop does not answer until up is set: an
// upgrade's new image, adopting the workers.
type notUp struct {
	*fake
	up    atomic.Bool
	looks chan struct{}
}

func (f *notUp) Snapshot(ctx context.Context) (arbiter.Snapshot, error) {
	select {
	case f.looks <- struct{}{}:
	default:
	}
	if !f.up.Load() {
		return arbiter.Snapshot{}, errors.New("the loop has not started")
	}
	return f.fake.Snapshot(ctx)
}

// r56 systemd review, finding 1: the image an upgrade started sent its
// READY=1 only once every watcher was ready, so the old image's
// RELOADING=1 left systemd "reloading" while one was stopped, flapping
// or failed. It now sends READY=1 once its loop answers (it took the
// workers over), with STATUS= naming what is not ready; not before.
func TestUpgradeReadyAfterTakeOver(t *testing.T) {
	path, c := listen(t)
	src := &notUp{fake: &fake{s: snap(0, 2)}, looks: make(chan struct{}, 1)}
	n := New(Options{Socket: path, Upgraded: true, StatusEvery: 1})
	if !n.Told() {
		t.Fatal("Told() = false in an upgrade's image: the next upgrade would owe systemd the start's READY=1")
	}
	run(t, n, src)
	<-src.looks
	<-src.looks // a look after the first failed: Run waited for the loop
	if m := drain(c); len(m) != 0 {
		t.Fatalf("sent before the loop answered: %q", m)
	}
	src.up.Store(true)
	got := until(t, c, "READY=1")
	if want := "STATUS=" + Summary(snap(0, 2)); !strings.HasSuffix(got[len(got)-1], want) {
		t.Errorf("READY=1 came as %q, want it with %s", got, want)
	}
}

// An upgrade before poold's first READY=1: systemd still starts poold and
// ignores RELOADING=1, so the old image sends none, and the new one sends
// READY=1 once every watcher is ready, as at a start.
func TestUpgradeBeforeTheFirstReady(t *testing.T) {
	path, c := listen(t)
	old := New(Options{Socket: path})
	old.Reloading()
	if m := read(t, c); strings.Contains(m, "RELOADING=1") || m != "STATUS=upgrading poold in place" {
		t.Errorf("the old image's message before its first READY=1: %q, want STATUS= alone", m)
	}
	src := &fake{s: snap(0, 2)}
	n := New(Options{Socket: path, Upgraded: true, StartOwed: true, StatusEvery: 1})
	if n.Told() {
		t.Fatal("Told() = true with StartOwed")
	}
	run(t, n, src)
	if m := read(t, c); strings.Contains(m, "READY=1") {
		t.Fatalf("READY=1 with 0 of 2 workers ready, before the start's end: %q", m)
	}
	src.set(func(f *fake) { f.s = snap(2, 2) })
	until(t, c, "READY=1")
	proctest.Eventually(t, "Told() once READY=1 was sent", n.Told) // recorded just after the send
}

// r56 systemd review, finding 2: a reload that joined one under way got
// no RELOADING=1: under Type=notify-reload, systemd takes only one whose
// MONOTONIC_USEC is at or after the SIGHUP it sent, and its reload timed
// out. Each reload taken now has its own.
func TestReloadJoiningOneUnderWay(t *testing.T) {
	path, c := listen(t)
	n := New(Options{Socket: path})
	run(t, n, &fake{s: snap(1, 1)})
	until(t, c, "READY=1")
	n.ReloadBegan()
	first := usec(t, read(t, c))
	before := monotonicUsec()
	n.ReloadBegan()
	m := read(t, c)
	if second := usec(t, m); second < before || second < first {
		t.Errorf("the second reload's RELOADING=1 has MONOTONIC_USEC %d, want at or after %d (its start)", second, before)
	}
	n.ReloadEnded(nil)
	n.ReloadEnded(nil)
	if got := until(t, c, "READY=1"); len(got) != 1 {
		t.Errorf("before READY=1: %q", got)
	}
}

// usec is the MONOTONIC_USEC of m, a RELOADING=1.
func usec(t *testing.T, m string) uint64 {
	t.Helper()
	if !strings.HasPrefix(m, "RELOADING=1\n") {
		t.Fatalf("%q, want RELOADING=1", m)
	}
	for _, l := range strings.Split(m, "\n") {
		if v, ok := strings.CutPrefix(l, "MONOTONIC_USEC="); ok {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("%q has no MONOTONIC_USEC", m)
	return 0
}
