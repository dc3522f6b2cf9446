package web

import (
	"net"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/hashicorp/go-hclog"

	"github.com/poold/poold/configs"
)

// TestBrowserUpgradeIsNotAnOutage: an in-place upgrade ends the page's
// websocket with 1012 ("service restart"); the page says poold is
// upgrading and reconnects at once, and never shows the connection as
// down, as it would for a poold that went away.
func TestBrowserUpgradeIsNotAnOutage(t *testing.T) {
	ctx := newBrowser(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fake := newFakeBackend(t, map[string]int{"web": 1})
	s, err := New(Options{Config: configs.Web{Address: l.Addr().String()}, Backend: fake, Events: fake.Events, Stats: fake.Stats,
		Log: hclog.New(&hclog.LoggerOptions{Name: "web", Level: hclog.Warn, Output: testWriter{t}})})
	if err != nil {
		t.Fatal(err)
	}
	runServer(t, s, l)
	if err := chromedp.Do(ctx, chromedp.Navigate("http://"+l.Addr().String()+"/")); err != nil {
		t.Fatal(err)
	}
	const conn = `document.querySelector('#conn')`
	waitJS(t, ctx, "the page live", conn+`.className.includes('conn-live')`)
	evalJS[bool](t, ctx, `(() => {
		window.connSeen = [];
		const c = `+conn+`;
		new MutationObserver(() => connSeen.push(c.className + ': ' + c.textContent))
			.observe(c, {attributes: true, childList: true, characterData: true, subtree: true});
		return true;
	})()`)

	s.HandOver() // what an upgrade does last before its exec
	waitJS(t, ctx, "the page to say poold upgrades", `connSeen.some(s => s.includes('conn-wait') && s.includes('upgrading'))`)
	s.Resume() // the new image serves (here: the same one again)
	waitJS(t, ctx, "the page live again", `connSeen.length > 1 && connSeen[connSeen.length-1].includes('conn-live')`)
	if seen := evalJS[[]string](t, ctx, `connSeen`); len(seen) == 0 {
		t.Fatal("no connection state recorded")
	} else {
		for _, s := range seen {
			if !strings.Contains(s, "conn-live") && !strings.Contains(s, "conn-wait") {
				t.Errorf("the page showed %q during an upgrade; all it showed: %q", s, seen)
			}
		}
	}
}
