package arbiter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher/proctest"
)

// Requests are GETs without a body on keep-alive connections. Go's
// Transport retries such a request on a new connection when the server
// closed a connection it had reused (the close raced the request: an idle
// connection closed by a worker that stops), and never when the connection
// was new to it: the request reached a server that dropped it. A failure
// is reported with which kind of connection it was on, and the retries are
// counted.
type load struct {
	addr    string
	clients int
	c       *http.Client
	stop    chan struct{}
	wg      sync.WaitGroup
}

// tally is what one window of load saw.
type tally struct {
	ok, failed, retried atomic.Int64
	mu                  sync.Mutex
	errs                map[string]int // failure (and its connection) -> count
	pids                map[string]int // "pid=N" -> answers
}

func newLoad(t testing.TB, addr string, clients int) *load {
	tr := &http.Transport{MaxIdleConnsPerHost: clients}
	l := &load{addr: addr, clients: clients, c: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
	t.Cleanup(func() {
		l.pause()
		tr.CloseIdleConnections()
	})
	return l
}

// run starts the clients; they count into the returned tally.
func (l *load) run() *tally {
	tl := &tally{errs: map[string]int{}, pids: map[string]int{}}
	stop := make(chan struct{})
	l.stop = stop
	for i := 0; i < l.clients; i++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				l.get(tl)
			}
		}()
	}
	return tl
}

// pause stops the clients and returns once none has a request in flight.
func (l *load) pause() {
	if l.stop != nil {
		close(l.stop)
		l.stop = nil
	}
	l.wg.Wait()
}

func (l *load) get(tl *tally) {
	conns, reused := 0, false
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { conns, reused = conns+1, i.Reused }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", "http://"+l.addr+"/", nil)
	if err != nil {
		panic(err)
	}
	resp, err := l.c.Do(req)
	if conns > 1 {
		tl.retried.Add(1)
	}
	var body []byte
	if err == nil {
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil && resp.StatusCode != 200 {
			err = errors.New(resp.Status)
		}
	}
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if err != nil {
		tl.failed.Add(1)
		conn := "new"
		if reused {
			conn = "reused"
		}
		tl.errs[fmt.Sprintf("%v (on a %s connection)", err, conn)]++
		return
	}
	tl.ok.Add(1)
	tl.pids[strings.Fields(string(body))[0]]++
}

// waitAnswered waits until the tally has n more answers.
func (tl *tally) waitAnswered(t testing.TB, n int64) {
	t.Helper()
	target := tl.ok.Load() + n
	proctest.Eventually(t, "load answered", func() bool { return tl.ok.Load() >= target })
}

// check fails t if any request of the window failed.
func (tl *tally) check(t testing.TB, window string) {
	t.Helper()
	tl.mu.Lock()
	defer tl.mu.Unlock()
	ok, failed := tl.ok.Load(), tl.failed.Load()
	if failed > 0 {
		t.Errorf("%s: %d of %d requests failed: %v", window, failed, ok+failed, tl.errs)
	}
	t.Logf("%s: %d requests answered, %d failed, %d retried by the transport after a reused connection closed", window, ok, failed, tl.retried.Load())
}

// answeredOnlyBy fails t if a worker outside pids answered in the window.
func (tl *tally) answeredOnlyBy(t testing.TB, window string, pids map[int]bool) {
	t.Helper()
	tl.mu.Lock()
	defer tl.mu.Unlock()
	for pid := range tl.pids {
		n, err := strconv.Atoi(strings.TrimPrefix(pid, "pid="))
		if err != nil || !pids[n] {
			t.Errorf("%s: a request was answered by %s, not one of %v", window, pid, pids)
		}
	}
}

func notifyWatcher(n int) configs.Watcher {
	w := testWatcher("web", "notify", n)
	w.Sockets = []string{"web"}
	w.Readiness = "notify"
	w.ReadyTimeout = 10 * time.Second
	w.GracefulTimeout = 10 * time.Second
	return w
}

// readyPids waits for n workers of watcher to be ready and returns their
// pids. The ready events of other watchers are read and passed over.
func readyPids(t testing.TB, h *harness, watcher string, n int) map[int]bool {
	t.Helper()
	return readyPidsOf(t, h, map[string]int{watcher: n})[watcher]
}

// readyPidsOf waits for want[name] workers of each watcher to be ready and
// returns their pids by watcher. It reads the events in one pass: one
// watcher's ready event can come before another's, so one readyPids per
// watcher would pass over the first watcher's while it waits for the second.
func readyPidsOf(t testing.TB, h *harness, want map[string]int) map[string]map[int]bool {
	t.Helper()
	out := map[string]map[int]bool{}
	short := func() bool {
		for name, n := range want {
			if len(out[name]) < n {
				return true
			}
		}
		return false
	}
	for short() {
		ev := h.next("ready", func(ev events.Event) bool { _, ok := want[ev.Watcher]; return ok })
		if out[ev.Watcher] == nil {
			out[ev.Watcher] = map[int]bool{}
		}
		out[ev.Watcher][ev.Fields["process_pid"].(int)] = true
	}
	return out
}

// spawnedReady waits for n spawns of watcher and for each of those
// workers to be ready, reading both kinds in one pass: a worker without
// sockets is ready once it has run 100 ms, which can be before the next
// one spawns, so a spawn loop would throw its ready event away.
func spawnedReady(t testing.TB, h *harness, watcher string, n int) map[int]bool {
	t.Helper()
	fresh, ready := map[int]bool{}, map[int]bool{}
	for len(fresh) < n || len(ready) < n {
		ev := h.next("", func(ev events.Event) bool {
			return ev.Watcher == watcher && (ev.Kind == "spawn" || ev.Kind == "ready")
		})
		pid := ev.Fields["process_pid"].(int)
		if ev.Kind == "spawn" {
			fresh[pid] = true
		} else if fresh[pid] {
			ready[pid] = true
		}
	}
	return ready
}

// fleet follows one watcher's workers through the event stream and checks,
// event by event, what serving without a gap needs from poold: a worker is
// told to stop only while want others are ready, none is killed (so none
// outlived its graceful_timeout with requests in hand), one that was told
// to stop exits 0 (it drained), and a wid belongs to one live worker at a
// time. It must be the harness's only reader of events.
type fleet struct {
	h      *harness
	name   string
	want   int
	seq    uint64
	live   map[int]*worker // pid -> worker, from spawn to reap
	reaped []reaped        // since the last call of takeReaped
}

type worker struct {
	wid             int
	ready, stopping bool
}

type reaped struct {
	pid, code int
	stopping  bool
}

func newFleet(h *harness, name string, want int) *fleet {
	return &fleet{h: h, name: name, want: want, live: map[int]*worker{}}
}

// ready is the set of workers that are ready and not told to stop.
func (f *fleet) ready() map[int]bool {
	out := map[int]bool{}
	for pid, w := range f.live {
		if w.ready && !w.stopping {
			out[pid] = true
		}
	}
	return out
}

// settled reports whether want workers serve and no other is alive.
func (f *fleet) settled() bool { return len(f.live) == f.want && len(f.ready()) == f.want }

// until reads events until cond holds, checking each one.
func (f *fleet) until(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(hang)
	for !cond() {
		select {
		case ev, ok := <-f.h.sub.C():
			if !ok {
				t.Fatalf("event stream closed waiting until %s", what)
			}
			f.apply(t, ev)
		case <-deadline:
			t.Fatalf("not %s within %v; live workers: %v", what, hang, f.live)
		}
	}
}

func (f *fleet) apply(t testing.TB, ev events.Event) {
	t.Helper()
	if f.seq != 0 && ev.Seq != f.seq+1 {
		t.Fatalf("events %d to %d were lost: the checks below need every one", f.seq+1, ev.Seq-1)
	}
	f.seq = ev.Seq
	if ev.Watcher != f.name {
		return
	}
	pid, _ := ev.Fields["process_pid"].(int)
	wid, _ := ev.Fields["process_id"].(int)
	w := f.live[pid]
	switch ev.Kind {
	case events.KindSpawn:
		for other, o := range f.live {
			if o.wid == wid {
				t.Errorf("pid %d spawned with wid %d, still held by live pid %d", pid, wid, other)
			}
		}
		f.live[pid] = &worker{wid: wid}
	case events.KindReady:
		if w == nil {
			t.Fatalf("ready event for pid %d, never spawned: %v", pid, ev.Fields)
		}
		w.ready = true
	case events.KindKill:
		if w == nil {
			t.Fatalf("kill event for pid %d, not alive: %v", pid, ev.Fields)
		}
		if sig := syscall.Signal(ev.Fields["signal"].(int)); sig == syscall.SIGKILL {
			t.Errorf("pid %d (wid %d) was killed: it did not finish draining within graceful_timeout", pid, w.wid)
			return
		}
		w.stopping = true
		if n := len(f.ready()); n < f.want {
			t.Errorf("pid %d (wid %d) told to stop while %d other workers were ready, want %d", pid, w.wid, n, f.want)
		}
	case events.KindExit:
		if w == nil {
			t.Fatalf("exit event for pid %d, not alive: %v", pid, ev.Fields)
		}
		code := ev.Fields["exit_code"].(int)
		if w.stopping && code != 0 {
			t.Errorf("pid %d (wid %d) exited %d once told to stop, want 0", pid, w.wid, code)
		}
		delete(f.live, pid)
		f.reaped = append(f.reaped, reaped{pid: pid, code: code, stopping: w.stopping})
	}
}

// takeReaped returns the workers reaped since the last call.
func (f *fleet) takeReaped() []reaped {
	r := f.reaped
	f.reaped = nil
	return r
}

func pidSet(pids []int) map[int]bool {
	out := map[int]bool{}
	for _, p := range pids {
		out[p] = true
	}
	return out
}
