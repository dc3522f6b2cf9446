package web

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/poold/poold/events"
)

// TestBrowserReloadEventShowsItsStartAsATime: a reload event's "began"
// (Unix seconds) read "began 1800000000" in the console's event log, a
// float cut to three digits; it shows as the time of day, like the
// event's own time.
func TestBrowserReloadEventShowsItsStartAsATime(t *testing.T) {
	ctx := newBrowser(t)
	fake := newFakeBackend(t, map[string]int{"web": 1})
	fake.Events.KeepHistory(100)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	serveAt(t, fake, addr)
	began := time.Date(2026, 12, 5, 13, 4, 5, 0, time.Local)
	fake.Events.Publish("web", events.KindReload, map[string]any{"began": float64(began.UnixNano()) / 1e9})
	if err := chromedp.Do(ctx, chromedp.Navigate("http://"+addr+"/")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the reload event", `[...document.querySelectorAll('#events li')].some(li => li.textContent.includes('began'))`)
	text := evalJS[string](t, ctx, `[...document.querySelectorAll('#events li')].find(li => li.textContent.includes('began')).textContent`)
	if !strings.Contains(text, "began 13:04:05") {
		t.Errorf("reload event reads %q, want its start as a time, began 13:04:05", text)
	}
}
