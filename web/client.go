package web

import (
	"sync"
	"sync/atomic"

	"github.com/gorilla/websocket"
)

// client is one open console as the hub sees it: a bounded queue drained by
// the connection's writer, and a quit signal.
type client struct {
	send   chan *websocket.PreparedMessage
	quit   chan struct{}
	once   sync.Once
	remote string
	// drop closes the network connection at once, unblocking a writer
	// stuck on a peer that does not read.
	drop func()
	// closing: the writer has sent (or is sending) poold's close frame;
	// the reader drops what the page sends until its close reply.
	closing atomic.Bool
	// silent: the reader ended because nothing (no pong, no message)
	// came within pongWait; it holds the close frame's text that says
	// so, for the writer, instead of the one for poold's shutdown.
	silent atomic.Pointer[string]
	// since is the last event seq a reconnecting console saw (?since=).
	since uint64
	// asks: its page has asked for watchers or history, so it applies
	// syncs (hub goroutine only; see broadcastSync).
	asks bool
	// view: the watchers whose cards its page shows, nil until the page
	// says (console_view); viewKey names the set. Hub goroutine only; see
	// hubview.go.
	view    map[string]bool
	viewKey string
	// pointsInView: its page asks for the history it missed when a card
	// comes back into view (console_view with since), so it gets the
	// chart points of the watchers in view only.
	pointsInView bool
}

func newClient(queue int, remote string, drop func()) *client {
	return &client{send: make(chan *websocket.PreparedMessage, queue), quit: make(chan struct{}), remote: remote, drop: drop}
}

// offer queues m without blocking; false means the queue is full.
func (c *client) offer(m *websocket.PreparedMessage) bool {
	select {
	case c.send <- m:
		return true
	default:
		return false
	}
}

// kill asks the writer to close the connection. Safe to call more than once.
func (c *client) kill() { c.once.Do(func() { close(c.quit) }) }
