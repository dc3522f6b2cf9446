package metrics

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/proctest"
)

// TestWokenPoolStatusSaysStarting: an on_demand pool woken by a
// connection, its worker not ready yet, is "starting" in poolctl status
// and the console, and poold_pool_status said "active". The gauge now
// says what status says, then "active" once the worker is ready.
func TestWokenPoolStatusSaysStarting(t *testing.T) {
	ready := proctest.FreePort(t) // nothing listens there: the worker stays starting
	w := serveWatcher("lazy", 1)
	w.OnDemand = true
	w.Readiness = "tcp"
	w.ReadyAddress = fmt.Sprintf("127.0.0.1:%d", ready)
	w.ReadyTimeout = time.Hour
	w.GracefulTimeout = 2 * time.Second
	cfg := rigConfig()
	cfg.Watchers = []configs.Watcher{w}
	r := newRig(t, cfg)

	status := func(st string) float64 {
		fams, _ := r.scrape()
		v, _ := value(fams, "poold_pool_status", map[string]string{"pool": "lazy", "status": st})
		return v
	}
	if v := status("active"); v != 1 {
		t.Fatalf("the cold pool: poold_pool_status{status=\"active\"} = %v, want 1", v)
	}
	c, err := net.Dial("tcp", r.addr) // waits in the backlog and wakes the pool
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	proctest.Eventually(t, "status says the woken pool is starting", func() bool {
		return r.do("status", map[string]any{"name": "lazy"})["status"] == "starting"
	})
	if a, s := status("active"), status("starting"); a != 0 || s != 1 {
		t.Fatalf("the woken pool, status starting: poold_pool_status active %v, starting %v; want 0 and 1, as status says", a, s)
	}

	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", ready))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	proctest.Eventually(t, "poold_pool_status active once the worker is ready", func() bool {
		return status("active") == 1 && status("starting") == 0
	})
}
