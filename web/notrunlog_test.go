package web

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
)

// While poold re-executes itself in an upgrade, the console's refresh is
// refused "not run": that is no failure worth a warning in poold's log
// (r52b-http saw one at every upgrade); the new image answers the next.
func TestRefreshNotRunDuringAnUpgradeIsNoWarning(t *testing.T) {
	t.Parallel()
	fake := newFakeBackend(t, map[string]int{"web": 1})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logged := &syncBuffer{}
	s, err := New(Options{Config: configs.Web{Address: l.Addr().String()}, Backend: fake, Events: fake.Events, Stats: fake.Stats,
		Log: hclog.New(&hclog.LoggerOptions{Name: "web", Level: hclog.Debug, Output: logged})})
	if err != nil {
		t.Fatal(err)
	}
	runServer(t, s, l)
	c := dialConsole(t, &testServer{Server: s, fake: fake, addr: l.Addr().String(), url: "http://" + l.Addr().String()})
	c.next("hello", typeIs("hello"))
	fake.notRun.Store(true)
	fake.Events.Publish("web", events.KindUpdated, nil) // the hub reads web again
	waitFor(t, "the refresh to be refused", func() bool { return strings.Contains(logged.String(), "console refresh not run") })
	if strings.Contains(logged.String(), "console refresh failed") {
		t.Errorf("a refresh refused not run was logged as a failure:\n%s", logged.String())
	}
}

// stoppingBackend is poold's arbiter as it stops: once stopped is closed
// its loop has ended and every command is refused.
type stoppingBackend struct {
	*fakeBackend
	stopped chan struct{}
}

func (b *stoppingBackend) Stopped() <-chan struct{} { return b.stopped }

func (b *stoppingBackend) Do(ctx context.Context, req arbiter.Request) arbiter.Reply {
	select {
	case <-b.stopped:
		return arbiter.Fail(req.ID, &arbiter.CommandError{Errno: arbiter.ErrnoFailed, Reason: "poold shut down before " + req.Command + " completed"})
	default:
		return b.fakeBackend.Do(ctx, req)
	}
}

// A refresh refused because poold's loop has ended (it is stopping) is no
// failure either: r56b-bigops saw "console refresh failed" at every
// normal shutdown.
func TestRefreshAfterPooldStoppedIsNoWarning(t *testing.T) {
	t.Parallel()
	fake := newFakeBackend(t, map[string]int{"web": 1})
	b := &stoppingBackend{fakeBackend: fake, stopped: make(chan struct{})}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logged := &syncBuffer{}
	s, err := New(Options{Config: configs.Web{Address: l.Addr().String()}, Backend: b, Events: fake.Events, Stats: fake.Stats,
		Log: hclog.New(&hclog.LoggerOptions{Name: "web", Level: hclog.Debug, Output: logged})})
	if err != nil {
		t.Fatal(err)
	}
	runServer(t, s, l)
	c := dialConsole(t, &testServer{Server: s, fake: fake, addr: l.Addr().String(), url: "http://" + l.Addr().String()})
	c.next("loaded", func(m map[string]any) bool { return watcherIn(m, "web") != nil })
	close(b.stopped)
	fake.Events.Publish("web", events.KindStop, nil) // the hub reads web again
	waitFor(t, "the refresh to be refused", func() bool { return strings.Contains(logged.String(), "console refresh after poold stopped") })
	if strings.Contains(logged.String(), "console refresh failed") {
		t.Errorf("a refresh refused as poold stopped was logged as a failure:\n%s", logged.String())
	}
}
