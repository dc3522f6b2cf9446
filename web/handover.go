package web

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// An in-place upgrade's hand-over, poold's HTTP side. The new image
// takes the listening sockets over (their fds stay open across the
// exec), so what connects meanwhile waits in the kernel's backlog for it;
// but a connection the old image has accepted dies with it, and its
// client gets a reset or an EOF. So, as the last step before the exec,
// each listener (the console's, the metrics listener's) on its own:
//
//	stop accepting        the fd stays open; newcomers queue for the new image
//	close idle keep-alive its client's next request opens a new connection
//	end every stream      SSE: the response ends (clients reconnect, resuming
//	                      after the last event id); websocket: a close frame
//	                      1012 "service restart" (the console reconnects)
//	answer what it took   a probe, a scrape, an API call, and the close
//	                      frames of the websockets: within handOverGrace
//
// The arbiter's loop is blocked in the hand-over, so the requests in
// flight are answered without it: the Backend and Health given to the
// server do that (cmd/poold's hand-over view). Resume undoes all but the
// ended streams when the exec did not happen.

// errHandingOver is the cause of a stream's end at the hand-over.
var errHandingOver = errors.New("poold is re-executing itself (in-place upgrade)")

// handOverGrace bounds a listener's wait for the requests it took: they
// are answered without the arbiter's loop, in milliseconds; a client that
// does not read its answer is cut by the exec, as before.
const handOverGrace = 500 * time.Millisecond

// silentAfter: a connection accepted this long before the hand-over
// that has sent no request yet (a browser's preconnect, a stuck client)
// is not waited for; the exec closes it.
const silentAfter = 100 * time.Millisecond

// streamsEnd is closed when a hand-over begins: streams (SSE,
// websockets) end at once. Resume gives a new one.
type streamsEnd struct {
	mu sync.Mutex
	ch chan struct{}
}

func (e *streamsEnd) done() <-chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ch == nil {
		e.ch = make(chan struct{})
	}
	return e.ch
}

func (e *streamsEnd) close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ch == nil {
		e.ch = make(chan struct{})
	}
	select {
	case <-e.ch:
	default:
		close(e.ch)
	}
}

// reopen is for a hand-over that did not happen.
func (e *streamsEnd) reopen() {
	e.mu.Lock()
	defer e.mu.Unlock()
	select {
	case <-e.ch:
		e.ch = nil
	default:
	}
}

// serving is what a hand-over needs of a running Serve.
type serving struct {
	hs *http.Server
	cl *capListener
}

// handOver stops sv taking connections, closes its idle ones and waits
// (until ctx ends) for the requests it took and for its websockets to
// close (their writers send the close frame first); it returns how many
// were still in flight.
func handOver(ctx context.Context, sv *serving) int {
	if sv == nil {
		return 0
	}
	sv.cl.pause()
	sv.hs.SetKeepAlivesEnabled(false) // idle ones close now, busy ones after their answer
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	since := time.Now().Add(-silentAfter)
	for {
		n := sv.cl.inFlight(since)
		if n == 0 {
			return 0
		}
		select {
		case <-ctx.Done():
			return n
		case <-tick.C:
		}
	}
}

func resume(sv *serving) {
	if sv == nil {
		return
	}
	sv.hs.SetKeepAlivesEnabled(true)
	sv.cl.resume()
}

// HandOver prepares the console for an in-place upgrade's exec, as the
// last step before it: it stops taking connections (the listener's fd
// stays open for the new image), closes idle connections, ends event
// streams and websockets, and waits up to handOverGrace for the requests
// it took and the websockets' close frames; it returns how many it still
// served then (the exec cuts them). Requests that wait for the arbiter must be answered without it
// meanwhile (Options.Backend, Options.Health). A no-op when not serving.
func (s *Server) HandOver() (cut int) {
	s.streams.close()
	ctx, cancel := context.WithTimeout(context.Background(), handOverGrace)
	defer cancel()
	return handOver(ctx, s.serving.Load())
}

// Resume undoes HandOver when the exec did not happen.
func (s *Server) Resume() {
	s.streams.reopen()
	resume(s.serving.Load())
}

// HandOver is Server.HandOver for the metrics and health listener.
func (p *ProbeServer) HandOver() (cut int) {
	ctx, cancel := context.WithTimeout(context.Background(), handOverGrace)
	defer cancel()
	return handOver(ctx, p.serving.Load())
}

// Resume undoes HandOver.
func (p *ProbeServer) Resume() { resume(p.serving.Load()) }

// servingPtr is set by Serve for HandOver.
type servingPtr = atomic.Pointer[serving]
