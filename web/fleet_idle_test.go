package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path"
	"sync"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/proctest"
)

// fakeRemote stands in for another poold's API, over plain HTTP on
// loopback: it answers status and stats, serves event streams that the
// test feeds, and records every request with the number of consoles the
// viewing poold had open when it arrived.
type fakeRemote struct {
	srv *httptest.Server

	mu       sync.Mutex
	consoles func() int // the viewer's; nil until set
	log      []remoteRequest
	streams  map[chan struct{}]bool
}

type remoteRequest struct {
	command  string // events, status, stats
	consoles int
}

// newFakeRemote starts the API; create it before the viewer, so that its
// clean-up (which waits for open streams) runs after the viewer's.
func newFakeRemote(t *testing.T) *fakeRemote {
	t.Helper()
	r := &fakeRemote{streams: map[chan struct{}]bool{}}
	r.srv = httptest.NewServer(r)
	t.Cleanup(func() {
		r.srv.CloseClientConnections()
		r.srv.Close()
	})
	return r
}

func (r *fakeRemote) watchedBy(consoles func() int) {
	r.mu.Lock()
	r.consoles = consoles
	r.mu.Unlock()
}

func (r *fakeRemote) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	cmd := path.Base(req.URL.Path)
	r.mu.Lock()
	n := -1
	if r.consoles != nil {
		n = r.consoles()
	}
	r.log = append(r.log, remoteRequest{command: cmd, consoles: n})
	r.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch cmd {
	case "events":
		r.stream(w, req)
	case "status":
		fmt.Fprint(w, `{"status": "ok", "statuses": {"web": "active"}}`)
	case "stats":
		fmt.Fprint(w, `{"status": "ok", "infos": {"web": {"101": {"cpu": 1.5}}}}`)
	default:
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"status": "error", "reason": "unknown command"}`)
	}
}

// stream serves one event stream until the client closes it.
func (r *fakeRemote) stream(w http.ResponseWriter, req *http.Request) {
	ch := make(chan struct{}, 1)
	r.mu.Lock()
	r.streams[ch] = true
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.streams, ch)
		r.mu.Unlock()
	}()
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	w.(http.Flusher).Flush()
	ev, _ := json.Marshal(map[string]any{"topic": "watcher.web.spawn", "event": map[string]any{"pid": 101}})
	for {
		select {
		case <-req.Context().Done():
			return
		case <-ch:
			fmt.Fprintf(w, "data: %s\n\n", ev)
			w.(http.Flusher).Flush()
		}
	}
}

// publish sends an event on every open stream.
func (r *fakeRemote) publish() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for ch := range r.streams {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

func (r *fakeRemote) openStreams() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.streams)
}

// requests returns the log from index from on.
func (r *fakeRemote) requests(from int) []remoteRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]remoteRequest(nil), r.log[min(from, len(r.log)):]...)
}

// count counts the requests for command since from, with no console open
// (unwatched) or any.
func (r *fakeRemote) count(from int, command string, unwatched bool) int {
	n := 0
	for _, q := range r.requests(from) {
		if q.command == command && (!unwatched || q.consoles == 0) {
			n++
		}
	}
	return n
}

// A console adds a host to the fleet view and closes: the host's event
// stream is closed and nothing more is asked of it, however many events
// it has, until a console opens again; then the host, still in the fleet,
// is refreshed at once (the resync is an hour away).
func TestFleetFollowsHostsOnlyWhileAConsoleIsOpen(t *testing.T) {
	t.Parallel()
	remote := newFakeRemote(t)
	ts := startServer(t, newFakeBackend(t, map[string]int{"local": 1}), configs.Web{}, func(tu *tunings) {
		tu.fleetResync = time.Hour
		tu.refreshDelay = time.Millisecond
		tu.retry = 10 * time.Millisecond
	})
	remote.watchedBy(ts.consoles)

	c := dialConsole(t, ts)
	c.next("hello", typeIs("hello"))
	c.send("add", "fleet_add", map[string]any{"url": remote.srv.URL, "token": "remote-token"})
	if rep := c.reply("add"); rep["status"] != "ok" {
		t.Fatalf("fleet_add: %v", rep)
	}
	proctest.Eventually(t, "the first refresh of the host", func() bool { return remote.count(0, "stats", false) >= 1 })
	// While the console is open, an event on the host brings a refresh.
	before := len(remote.requests(0))
	remote.publish()
	proctest.Eventually(t, "a refresh after the host's event", func() bool { return remote.count(before, "stats", false) >= 1 })

	c.c.Close()
	proctest.Eventually(t, "the console to be gone", func() bool { return ts.consoles() == 0 })
	// Events keep coming on the host while its stream is open. A refresh
	// already under way when the console left may land (one, or a few on
	// a slow machine); more mean the host is still followed.
	left := len(remote.requests(0))
	proctest.Eventually(t, "the host's event stream to close, or refreshes with no console", func() bool {
		remote.publish()
		return remote.openStreams() == 0 || remote.count(left, "stats", true) > 3
	})
	if n := remote.count(left, "stats", true); n > 3 || remote.openStreams() != 0 {
		t.Fatalf("no console is open, yet the host's event stream is open (%d) and it was asked for stats %d times: %v",
			remote.openStreams(), n, remote.requests(left))
	}

	paused := len(remote.requests(0))
	c2 := dialConsole(t, ts)
	hello := c2.next("hello", typeIs("hello"))
	if hosts := asSlice(hello["fleet"]); len(hosts) != 1 || hosts[0].(map[string]any)["url"] != remote.srv.URL {
		t.Errorf("hello fleet = %v, want the host added before", hello["fleet"])
	}
	proctest.Eventually(t, "a refresh once a console is back", func() bool { return remote.count(paused, "stats", false) >= 1 })
	for _, q := range remote.requests(paused) {
		if q.consoles == 0 {
			t.Errorf("the host got %s while no console was open (requests since the pause: %v)", q.command, remote.requests(paused))
		}
	}
	if got := remote.requests(paused); got[0].command != "events" {
		t.Errorf("after the pause the host got %v first, want its event stream reopened", got)
	}
}
