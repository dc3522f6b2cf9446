package web

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/poold/poold/configs"
)

// freezer is a TCP proxy whose connections can go silently dead, as a
// laptop's do while it sleeps or behind a NAT that forgot them: freeze
// stops forwarding on every connection open now without closing it on
// the client's side. Connections made after a freeze forward normally.
type freezer struct {
	l        net.Listener
	upstream string
	wg       sync.WaitGroup

	mu     sync.Mutex
	conns  []net.Conn // every connection of both sides, closed at the end
	frozen []chan struct{}
	opened int
}

func newFreezer(t *testing.T, upstream string) *freezer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &freezer{l: l, upstream: upstream}
	f.wg.Add(1)
	go f.accept()
	t.Cleanup(func() {
		l.Close()
		f.mu.Lock()
		for _, c := range f.conns {
			c.Close()
		}
		f.mu.Unlock()
		f.wg.Wait()
	})
	return f
}

func (f *freezer) accept() {
	defer f.wg.Done()
	for {
		down, err := f.l.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", f.upstream)
		if err != nil {
			down.Close()
			continue
		}
		frozen := make(chan struct{})
		f.mu.Lock()
		f.conns = append(f.conns, down, up)
		f.frozen = append(f.frozen, frozen)
		f.opened++
		f.mu.Unlock()
		f.wg.Add(2)
		go f.pipe(down, up, frozen)
		go f.pipe(up, down, frozen)
	}
}

// pipe copies src to dst until either fails; once frozen it drops what
// it reads and closes only the server's side.
func (f *freezer) pipe(src, dst net.Conn, frozen <-chan struct{}) {
	defer f.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		select {
		case <-frozen:
			io.Copy(io.Discard, src)
			return
		default:
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// freeze makes every connection open now silent, both ways.
func (f *freezer) freeze() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, c := range f.frozen {
		if c != nil {
			close(c)
			f.frozen[i] = nil
			// The server's side ends (as poold's would after its pong
			// wait); the page's side stays open and hears nothing.
			f.conns[2*i+1].Close()
		}
	}
}

func (f *freezer) connections() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.opened
}

// TestBrowserSilentlyDeadConnection: a console whose websocket dies
// without a close (the laptop slept, poold was stopped) says so and
// connects again, instead of showing the last data it got as "live"
// forever.
func TestBrowserSilentlyDeadConnection(t *testing.T) {
	ctx := newBrowser(t)
	fake := newFakeBackend(t, map[string]int{"web": 1})
	ts := startServer(t, fake, configs.Web{}, func(tu *tunings) {
		tu.heartbeat = 200 * time.Millisecond
		tu.pingEvery = time.Hour // no ping: the page's own watchdog must notice
	})
	px := newFreezer(t, ts.addr)
	url := "http://" + px.l.Addr().String()
	if err := chromedp.Do(ctx, chromedp.Navigate(url+"/")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the live connection", `document.querySelector('#conn').textContent === 'live'`)
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`window.sawDown = false;
		new MutationObserver(() => { if (document.querySelector('#conn').textContent.startsWith('no word from poold')) window.sawDown = true; })
			.observe(document.querySelector('#conn'), { childList: true, characterData: true, subtree: true });`)); err != nil {
		t.Fatal(err)
	}
	before := px.connections()
	px.freeze()
	waitJS(t, ctx, "the page saying its connection went silent", `window.sawDown === true`)
	waitJS(t, ctx, "live again", `document.querySelector('#conn').textContent === 'live'`)
	if px.connections() <= before {
		t.Fatalf("the page is live again without a new connection (%d before the freeze, %d now)", before, px.connections())
	}
}
