package web

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// A browser test that sends the fake's stats rounds waits for a round to
// be drawn before it looks at the page, or sends the next (rounds sent
// back to back can reach the hub in one batch, which makes one chart
// point). It waited for the page's "poold … up Ns", poold's age being the
// fake's number of rounds; but a resync's sync puts dstats' poold row in
// place of the round's (the fake's says up 12s), and a wait for round N's
// "up Ns" that missed the moment it showed waited for ever ("waiting for
// the round drawn (…up 1s)", 3 in 10 runs of
// TestBrowserChartPointsFollowTheView under load). The stats message that
// holds round N's poold row tells instead: the hub sent round N in it,
// all of it (poold's row is a round's last sample), and the page took it
// once its st.lastStats reaches that message's time.

// statsFollower holds the stats messages with poold's row that reached
// the page's websocket: poold's age in each (the fake's round) and the
// message's time (what the page's st.lastStats becomes).
type statsFollower struct {
	ctx context.Context
	c   chan statsFrame
}

type statsFrame struct{ age, time float64 }

// followStats follows the stats messages from now on.
func followStats(t *testing.T, ctx context.Context) *statsFollower {
	t.Helper()
	f := &statsFollower{ctx: ctx, c: make(chan statsFrame, 1000)} // a round per message at most; a test makes dozens
	err := chromedp.Listen(ctx, func(ev any) {                    // chromedp enables the network domain
		fr, ok := ev.(*network.EventWebSocketFrameReceived)
		if !ok || fr.Response == nil {
			return
		}
		var m struct {
			Type  string
			Time  float64
			Poold *struct{ Age float64 }
		}
		if json.Unmarshal([]byte(fr.Response.PayloadData), &m) != nil || m.Type != "stats" || m.Poold == nil {
			return
		}
		select { // the listener must not block chromedp's event reader
		case f.c <- statsFrame{age: m.Poold.Age, time: m.Time}:
		default:
			t.Errorf("more stats messages than the test makes rounds: %v", m)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// drawn waits until the page has taken the stats message of round n
// (or of the batch that ends with it) and drawn a frame since.
func (f *statsFollower) drawn(t *testing.T, n int) {
	t.Helper()
	bound := time.After(jsHang)
	for {
		select {
		case fr := <-f.c:
			if fr.age != float64(n) {
				continue
			}
			waitJS(t, f.ctx, fmt.Sprintf("round %d taken", n), fmt.Sprintf(`import("/static/conn.js").then((m) => m.st.lastStats >= %v)`, fr.time))
			if err := chromedp.Do(f.ctx, chromedp.Evaluate[chromedp.Void](`new Promise((ok) => requestAnimationFrame(() => requestAnimationFrame(ok)))`, chromedp.EvalAwaitPromise)); err != nil {
				t.Fatal(err)
			}
			return
		case <-bound:
			t.Fatalf("no stats message of round %d reached the page within %v", n, jsHang)
		}
	}
}
