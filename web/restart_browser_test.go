package web

import (
	"fmt"
	"net"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/hashicorp/go-hclog"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
)

// serveAt serves a console for fake at addr until the returned stop is
// called (which waits for Serve to return), as one poold process would.
func serveAt(t *testing.T, fake *fakeBackend, addr string) (stop func()) {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Config: configs.Web{Address: l.Addr().String()}, Backend: fake, Events: fake.Events, Stats: fake.Stats,
		Log: hclog.New(&hclog.LoggerOptions{Name: "web", Level: hclog.Warn, Output: testWriter{t}})})
	if err != nil {
		t.Fatal(err)
	}
	return runServer(t, s, l)
}

// TestBrowserResumeAfterPooldRestart: after poold restarts (its event
// numbers start again from 1), a console that later reconnects gets every
// event it missed. It used to keep the old poold's last number as where it
// stood, and, once the new poold's numbers passed it, resumed from there:
// the events in between never showed.
func TestBrowserResumeAfterPooldRestart(t *testing.T) {
	ctx := newBrowser(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	// The first poold, well into its event numbers.
	old := newFakeBackend(t, map[string]int{"web": 1})
	old.Events.KeepHistory(1000)
	for i := range 60 {
		old.Events.Publish("web", events.KindUpdated, map[string]any{"old": i})
	}
	stopOld := serveAt(t, old, addr)
	if err := chromedp.Do(ctx, chromedp.Navigate("http://"+addr+"/")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the old poold's events", `[...document.querySelectorAll('#events li')].some(li => li.textContent.includes('old 59'))`)
	stopOld()

	// poold restarted: its numbers start again.
	fresh := newFakeBackend(t, map[string]int{"web": 1})
	fresh.Events.KeepHistory(1000)
	stopFresh := serveAt(t, fresh, addr)
	fresh.Events.Publish("web", events.KindUpdated, map[string]any{"fresh": "seen"})
	waitJS(t, ctx, "the new poold's event", `[...document.querySelectorAll('#events li')].some(li => li.textContent.includes('fresh seen'))`)

	// The console loses its connection; meanwhile the new poold's
	// numbers pass the old poold's last one.
	stopFresh()
	for i := range 80 {
		fresh.Events.Publish("web", events.KindUpdated, map[string]any{"gap": i})
	}
	serveAt(t, fresh, addr)
	waitJS(t, ctx, "the last event of the gap", `[...document.querySelectorAll('#events li')].some(li => li.textContent.includes('gap 79'))`)
	missing := evalJS[[]int](t, ctx, `(() => {
		const seen = new Set([...document.querySelectorAll('#events li')].map(li => li.textContent));
		const out = [];
		for (let i = 0; i < 80; i++) if (![...seen].some(t => t.endsWith('gap ' + i))) out.push(i);
		return out;
	})()`)
	if len(missing) > 0 {
		t.Errorf("events of the gap missing from the console after it reconnected: %v", fmt.Sprint(missing))
	}
}
