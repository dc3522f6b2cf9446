package web

import (
	"fmt"
	"net"
	"os/exec"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/poold/poold/watcher/proctest"
)

// TestBrowserWokenPoolSaysStarting: an on_demand pool woken by a
// connection, its worker not ready yet, is "starting" in poolctl status,
// and the console said "active": nothing served the connection yet. The
// console now says what status says, then "active" once the worker is
// ready.
func TestBrowserWokenPoolSaysStarting(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	front, ready := proctest.FreePort(t), proctest.FreePort(t) // nothing listens on ready: the worker stays starting
	url := startPooldWith(t, fmt.Sprintf(`
[sockets.front]
host = "127.0.0.1"
port = %d

[watchers.lazy]
cmd = %q
args = ["3600"]
sockets = ["front"]
on_demand = true
readiness = "tcp"
ready_address = "127.0.0.1:%d"
ready_timeout = "1h"
graceful_timeout = "2s"
`, front, sleep, ready))
	ctx := newBrowser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(url+"/")); err != nil {
		t.Fatal(err)
	}
	badge := `document.querySelector('article[data-watcher="lazy"] .badge')`
	waitJS(t, ctx, "the cold pool active", badge+`?.textContent === "active"`)

	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", front)) // waits in the backlog and wakes the pool
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitJS(t, ctx, "a worker row", rowsExpr("lazy", 1))
	waitJS(t, ctx, "the woken pool starting", badge+`.textContent === "starting"`)

	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", ready))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	waitJS(t, ctx, "active once its worker is ready", badge+`.textContent === "active"`)
}
