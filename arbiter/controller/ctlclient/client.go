// Package ctlclient is the client of poold's control endpoint: it dials
// the ZeroMQ ROUTER (ipc:// or tcp://), sends requests and matches replies
// to them by id. It imports only the protocol (wire), so poolctl stays a
// thin client.
package ctlclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zeromq/zmq4"

	"github.com/poold/poold/arbiter/wire"
	"github.com/poold/poold/events/zmqguard"
)

var (
	// ErrUnreachable: no poold answers at the endpoint (the error says why).
	ErrUnreachable = errors.New("poold unreachable")
	// ErrConnLost: the connection closed after a request was sent (poold
	// stopped, or re-executed itself in an upgrade), so whether poold
	// ran the request is unknown. It comes with ErrUnreachable.
	ErrConnLost = errors.New("connection lost")
	// ErrNotSent: the connection had closed before the request was sent
	// (poold stopped, or re-executed itself in an upgrade): poold did not
	// get it, and it may be sent again on a new connection. It comes with
	// ErrUnreachable.
	ErrNotSent = errors.New("connection lost before the request was sent")
	// ErrTimeout: the request was sent but no reply came in time; poold
	// may still be working on it.
	ErrTimeout = errors.New("timed out waiting for reply")
	// ErrClosed: the Client was closed.
	ErrClosed = errors.New("controller client closed")
	// ErrTooLarge: the request is over wire.MaxRequest; it was not sent.
	ErrTooLarge = errors.New("request too large")
)

// DefaultTimeout bounds a Call whose context has no deadline.
const DefaultTimeout = 5 * time.Second

// Client talks to a control endpoint over a DEALER socket (not REQ: zmq4's
// REQ can deadlock on reconnect). It makes one connection and does not
// reconnect; after the connection is lost every call fails with
// ErrUnreachable.
type Client struct {
	// Timeout bounds a Call whose context has no deadline (DefaultTimeout).
	Timeout time.Duration

	endpoint string
	sock     zmq4.Socket
	sendMu   sync.Mutex

	mu      sync.Mutex
	pending map[string]chan []byte
	broken  error
	closed  bool

	prefix string
	seq    atomic.Uint64
	done   chan struct{}
}

func (c *Client) readLoop() {
	defer close(c.done)
	for {
		msg, err := c.sock.Recv()
		if err != nil {
			c.mu.Lock()
			closed := c.closed
			if !closed && c.broken == nil {
				c.broken = fmt.Errorf("%w at %s: %w: %v", ErrUnreachable, c.endpoint, ErrConnLost, err)
			}
			for id, ch := range c.pending {
				close(ch)
				delete(c.pending, id)
			}
			c.mu.Unlock()
			if closed {
				zmqguard.DrainAfterClose(c.sock)
			}
			return
		}
		if len(msg.Frames) == 0 || msg.Type == zmq4.CmdMsg {
			continue
		}
		reply := msg.Frames[len(msg.Frames)-1]
		id := replyID(reply)
		c.mu.Lock()
		ch, ok := c.pending[id]
		delete(c.pending, id)
		c.mu.Unlock()
		if ok {
			ch <- reply // capacity 1, one reply per id
		}
	}
}

// replyID extracts "id" the way poold normalises a request's.
func replyID(reply []byte) string {
	var r struct {
		ID any `json:"id"`
	}
	if json.Unmarshal(reply, &r) != nil {
		return ""
	}
	return normID(r.ID)
}

func normID(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}

func (c *Client) nextID() string {
	return c.prefix + fmt.Sprint(c.seq.Add(1))
}

// prepare gives raw an id if it has none and reports the id and whether
// it is a cast. Raw that is not a JSON object is sent as is; poold answers
// it with errno 1 and a null id.
func (c *Client) prepare(raw []byte) ([]byte, string, bool) {
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil || obj == nil {
		return raw, "", false
	}
	var mt string
	_ = json.Unmarshal(obj["msg_type"], &mt)
	cast := mt == "cast"
	var id any
	if r, ok := obj["id"]; ok {
		_ = json.Unmarshal(r, &id)
	}
	if id == nil {
		sid := c.nextID()
		obj["id"], _ = json.Marshal(sid)
		raw, _ = json.Marshal(obj)
		return raw, sid, cast
	}
	return raw, normID(id), cast
}

// Call sends one raw JSON request and returns the raw reply. A request
// without "id" gets one. A cast ("msg_type": "cast") returns nil, nil once
// sent. The wait ends at ctx's deadline or, without one, after Timeout.
func (c *Client) Call(ctx context.Context, raw []byte) ([]byte, error) {
	raw, id, cast := c.prepare(raw)
	if len(raw) > wire.MaxRequest {
		// poold would close the connection without a reply.
		return nil, fmt.Errorf("controller: %w: the request is %d bytes, over the %d poold reads; send less (fewer or shorter args, env)", ErrTooLarge, len(raw), wire.MaxRequest)
	}
	var ch chan []byte
	c.mu.Lock()
	switch {
	case c.closed:
		c.mu.Unlock()
		return nil, ErrClosed
	case c.broken != nil:
		c.mu.Unlock()
		return nil, fmt.Errorf("%w at %s: %w", ErrUnreachable, c.endpoint, ErrNotSent)
	}
	if !cast {
		if _, dup := c.pending[id]; dup {
			c.mu.Unlock()
			return nil, fmt.Errorf("controller: a request with id %q is already in flight", id)
		}
		ch = make(chan []byte, 1)
		c.pending[id] = ch
	}
	c.mu.Unlock()
	forget := func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
	}

	c.sendMu.Lock()
	err := c.sock.Send(zmq4.NewMsg(raw))
	c.sendMu.Unlock()
	if err != nil {
		forget()
		return nil, fmt.Errorf("%w at %s: send: %v", ErrUnreachable, c.endpoint, err)
	}
	if cast {
		return nil, nil
	}

	wait := c.Timeout
	if wait <= 0 {
		wait = DefaultTimeout
	}
	if dl, ok := ctx.Deadline(); ok {
		wait = time.Until(dl)
	} else {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, wait)
		defer cancel()
	}
	select {
	case rep, ok := <-ch:
		if !ok {
			c.mu.Lock()
			err := c.broken
			c.mu.Unlock()
			if err == nil {
				err = ErrClosed
			}
			return nil, err
		}
		return rep, nil
	case <-ctx.Done():
		forget()
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, fmt.Errorf("%s: %w after %s; poold may still be working", c.endpoint, ErrTimeout, wait.Round(time.Millisecond))
		}
		return nil, ctx.Err()
	}
}

// Do sends req (given an id if it has none) and decodes the reply. An
// error reply is returned together with a *wire.CommandError carrying
// its errno and reason. A cast returns nil, nil.
func (c *Client) Do(ctx context.Context, req wire.Request) (wire.Reply, error) {
	if req.ID == "" {
		req.ID = c.nextID()
	}
	raw, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("controller: encode request: %w", err)
	}
	rep, err := c.Call(ctx, raw)
	if err != nil || rep == nil {
		return nil, err
	}
	var r wire.Reply
	if err := json.Unmarshal(rep, &r); err != nil {
		return nil, fmt.Errorf("controller: reply from %s is not a JSON object: %w", c.endpoint, err)
	}
	if r["status"] == "error" {
		ce := &wire.CommandError{}
		if n, ok := r["errno"].(float64); ok {
			ce.Errno = int(n)
		}
		ce.Reason, _ = r["reason"].(string)
		return r, ce
	}
	return r, nil
}

// Close closes the socket and waits for the reader goroutine. Calls in
// flight fail with ErrClosed.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	err := c.sock.Close()
	<-c.done
	return err
}
