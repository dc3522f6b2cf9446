package zmqpub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"os"
	"strings"
	"sync"
	"syscall"

	"github.com/go-zeromq/zmq4"

	"github.com/poold/poold/events/zmqguard"
)

// ErrClosed is returned by Recv after Close.
var ErrClosed = errors.New("zmqpub: subscriber closed")

// Subscriber is a SUB connection to a poold event or stats stream.
//
// ZeroMQ subscriptions take effect shortly after connecting (the "slow
// joiner"): events published before the publisher has seen the
// subscription are not delivered.
type Subscriber struct {
	endpoint string
	sock     zmq4.Socket

	msgs    chan zmq4.Msg
	closing chan struct{}
	done    chan struct{}
	once    sync.Once

	errMu sync.Mutex
	err   error // terminal error from the pump, read after done
}

// subQueue is the pump's channel length; zmq4 queues 10 more messages and
// the kernel the rest, then the publisher drops for this subscriber.
const subQueue = 64

// Dial connects a SUB socket to endpoint ("tcp://host:port" or
// "ipc:///path") and subscribes to the topic prefixes (all topics when
// none are given or one is ""). ctx bounds connecting only.
func Dial(ctx context.Context, endpoint string, prefixes ...string) (*Subscriber, error) {
	scheme, addr, ok := strings.Cut(endpoint, "://")
	if !ok || (scheme != "tcp" && scheme != "ipc") {
		return nil, fmt.Errorf("zmqpub: endpoint %q: want tcp://host:port or ipc:///path", endpoint)
	}
	if scheme == "ipc" && !strings.HasPrefix(addr, "@") {
		if _, err := os.Stat(addr); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("zmqpub: no such socket %s: is poold running, and is the endpoint right? (%w)", endpoint, err)
			}
			return nil, fmt.Errorf("zmqpub: %s: %w", endpoint, err)
		}
	}
	gep, err := zmqguard.Endpoint(endpoint)
	if err != nil {
		return nil, fmt.Errorf("zmqpub: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	sctx, cancel := context.WithCancel(context.Background())
	sock := zmq4.NewSub(sctx,
		zmq4.WithDialerMaxRetries(0), // report at once; the caller decides whether to retry
		zmq4.WithLogger(log.New(io.Discard, "", 0)),
	)
	if len(prefixes) == 0 {
		prefixes = []string{""}
	}
	for _, pfx := range prefixes {
		// Before Dial: zmq4 sends the subscriptions as soon as it connects.
		if err := sock.SetOption(zmq4.OptionSubscribe, pfx); err != nil {
			sock.Close()
			cancel()
			return nil, fmt.Errorf("zmqpub: %s: subscribe %q: %w", endpoint, pfx, err)
		}
	}
	stop := context.AfterFunc(ctx, cancel)
	err = sock.Dial(gep)
	stop()
	if err != nil {
		sock.Close()
		cancel()
		return nil, dialError(ctx, endpoint, err)
	}

	s := &Subscriber{
		endpoint: endpoint,
		sock:     sock,
		msgs:     make(chan zmq4.Msg, subQueue),
		closing:  make(chan struct{}),
		done:     make(chan struct{}),
	}
	go func() {
		defer cancel()
		s.pump()
	}()
	return s, nil
}

func dialError(ctx context.Context, endpoint string, err error) error {
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("zmqpub: connect %s: %w", endpoint, ctx.Err())
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("zmqpub: nothing is listening at %s: is poold running, and is the endpoint right? (%w)", endpoint, err)
	default:
		// zmq4 reports a non-PUB peer (e.g. the control endpoint) only
		// as text, so the hint covers it.
		return fmt.Errorf("zmqpub: connect %s: %w; is this poold's pubsub_endpoint or stats_endpoint?", endpoint, err)
	}
}

// pump moves messages from zmq4 to s.msgs until Close or until the
// connection is lost.
func (s *Subscriber) pump() {
	defer close(s.done)
	for {
		msg, err := s.sock.Recv()
		if err != nil {
			select {
			case <-s.closing:
				zmqguard.DrainAfterClose(s.sock)
			default:
				s.errMu.Lock()
				s.err = fmt.Errorf("zmqpub: %s: connection lost: %w", s.endpoint, err)
				s.errMu.Unlock()
			}
			return
		}
		select {
		case s.msgs <- msg:
		case <-s.closing:
			zmqguard.DrainAfterClose(s.sock)
			return
		}
	}
}

// RecvRaw returns the next message's topic and JSON payload. A message
// that is not two frames is reported as an error; the next call goes on.
// After the connection is lost every call returns that error; after
// Close, ErrClosed.
func (s *Subscriber) RecvRaw(ctx context.Context) (topic string, payload []byte, err error) {
	select {
	case msg := <-s.msgs:
		if len(msg.Frames) != 2 {
			return "", nil, fmt.Errorf("zmqpub: %s: message of %d frames, want 2 (topic, json)", s.endpoint, len(msg.Frames))
		}
		return string(msg.Frames[0]), msg.Frames[1], nil
	case <-s.done:
		select {
		case msg := <-s.msgs: // deliver what arrived before the loss
			if len(msg.Frames) == 2 {
				return string(msg.Frames[0]), msg.Frames[1], nil
			}
		default:
		}
		select {
		case <-s.closing:
			return "", nil, ErrClosed
		default:
		}
		s.errMu.Lock()
		defer s.errMu.Unlock()
		return "", nil, s.err
	case <-s.closing:
		return "", nil, ErrClosed
	case <-ctx.Done():
		return "", nil, ctx.Err()
	}
}

// Recv returns the next message's topic and decoded payload (numbers as
// float64), see RecvRaw.
func (s *Subscriber) Recv(ctx context.Context) (topic string, payload map[string]any, err error) {
	topic, raw, err := s.RecvRaw(ctx)
	if err != nil {
		return "", nil, err
	}
	payload, err = Decode(raw)
	if err != nil {
		return topic, nil, fmt.Errorf("zmqpub: %s: topic %q: %w", s.endpoint, topic, err)
	}
	return topic, payload, nil
}

// Decode parses a payload frame.
func Decode(payload []byte) (map[string]any, error) {
	var m map[string]any
	if err := json.Unmarshal(payload, &m); err != nil {
		return nil, fmt.Errorf("payload is not a JSON object: %w", err)
	}
	if m == nil {
		return nil, errors.New("payload is not a JSON object: null")
	}
	return m, nil
}

// Close disconnects and waits for the pump goroutine. Safe to call more
// than once and from any goroutine.
func (s *Subscriber) Close() error {
	var err error
	s.once.Do(func() {
		close(s.closing)
		err = s.sock.Close()
		<-s.done
	})
	return err
}
