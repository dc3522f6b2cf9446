package arbiter

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
)

// freePort returns a loopback port nobody listens on now.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// shortStuckAfter sets the spell a queue must last to be warned of for
// one test, which then waits seconds instead of the product's 10 (the
// length of the spell is not what these tests are about). It leaves
// more than two looks, so a warning still takes looks in a row.
func shortStuckAfter(t *testing.T, d time.Duration) {
	was := stuckAfter
	stuckAfter = d
	t.Cleanup(func() { stuckAfter = was })
}

// TestStuckQueueWarns (r64 newcomer F2): a worker that holds the socket
// at fd 3 but listens on a port of its own (python3 -m http.server PORT)
// was "active", and the socket's clients hung with no word in the log.
// Connections waiting on the socket past stuckAfter, while the watcher
// runs settled, are now a WARN and an arbiter.queue_stuck event naming
// the socket, its address, the queue and the watcher.
func TestStuckQueueWarns(t *testing.T) {
	shortStuckAfter(t, 2*time.Second)
	w := configs.DefaultWatcher("own")
	w.Cmd = "/usr/bin/python3"
	w.Args = []string{"-m", "http.server", fmt.Sprint(freePort(t)), "--bind", "127.0.0.1"}
	w.Sockets = []string{"s"}
	w.GracefulTimeout = 5 * time.Second
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("s")}, Watchers: []configs.Watcher{w}}, Options{})
	h.next("ready", nil)
	addr := h.socketAddr("s")
	for range 3 {
		c, err := net.DialTimeout("tcp", addr, hang) // the kernel completes it; nobody accepts
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	ev := h.next(string(events.KindQueueStuck), nil)
	if ev.Topic != "arbiter.queue_stuck" || ev.Fields["socket"] != "s" || ev.Fields["address"] != addr ||
		ev.Fields["queue"].(int) < 3 || fmt.Sprint(ev.Fields["watchers"]) != "[own]" {
		t.Errorf("event %s %v; want socket s at %s, queue >= 3, watchers [own]", ev.Topic, ev.Fields, addr)
	}
	log := h.log.String()
	if !strings.Contains(log, "no worker accepts them") || !strings.Contains(log, "socket=s") ||
		!strings.Contains(log, "address="+addr) || !strings.Contains(log, "watchers=own") || !strings.Contains(log, "a port of their own") {
		t.Errorf("log lacks the warning naming socket, address, watcher and causes:\n%s", log)
	}
}

// TestStuckQueueQuietWhenServed: a pool that accepts, under a client loop
// that keeps opening connections (its queue non-empty at moments), is
// never warned of, across more than stuckAfter plus two looks.
func TestStuckQueueQuietWhenServed(t *testing.T) {
	shortStuckAfter(t, 3*time.Second)
	w := testWatcher("web", "serve", 2)
	w.Sockets = []string{"web"}
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{w}}, Options{})
	h.serving("web")
	addr := h.socketAddr("web")
	var served, failed atomic.Int64
	var wg sync.WaitGroup
	end := time.Now().Add(stuckAfter + 2*checkDelay)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				if _, err := get(addr, "/"); err != nil {
					failed.Add(1)
				} else {
					served.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("served %d requests, %d failed", served.Load(), failed.Load())
	if served.Load() == 0 {
		t.Fatal("no request served")
	}
	for {
		select {
		case ev := <-h.sub.C():
			if ev.Kind == events.KindQueueStuck {
				t.Errorf("a served pool was warned of: %v", ev.Fields)
			}
			continue
		default:
		}
		break
	}
	if strings.Contains(h.log.String(), "no worker accepts them") {
		t.Errorf("a served pool was warned of in the log")
	}
}

// TestStuckQueueOfAStoppedWatcherArmsNoFastLook: connections waiting on
// the socket of a watcher that is stopped are not counted (nobody is to
// take them), and no 1 s look is armed for them: the 5 s tick looks
// again. A queue like that kept a 1 s timer running for as long as it
// stayed (r64 review2).
func TestStuckQueueOfAStoppedWatcherArmsNoFastLook(t *testing.T) {
	w := configs.DefaultWatcher("off")
	w.Cmd = "/bin/sleep"
	w.Args = []string{"3600"}
	w.Sockets = []string{"s"}
	w.Autostart = false
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("s")}, Watchers: []configs.Watcher{w}}, Options{})
	c, err := net.DialTimeout("tcp", h.socketAddr("s"), hang) // the kernel completes it; nobody accepts
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	armed := onLoop(t, h.a, func() any {
		h.a.lookQueues(time.Now())
		return h.a.queues.armed
	})
	if armed != false {
		t.Errorf("a 1 s look is armed for the queue of a stopped watcher's socket")
	}
}
