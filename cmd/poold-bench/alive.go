package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// alive is one "I am alive" datagram: a worker's pid and the wall-clock
// time (its own clock, CLOCK_REALTIME, shared by every process on the
// machine) at which it held its listener and was about to serve.
type alive struct {
	pid int
	at  time.Time
}

// board receives the workers' alive datagrams on a unix datagram socket.
// Run (one goroutine, owned by the runner) moves them to a buffered
// channel; the runner's single measuring goroutine takes them with next,
// waitN and waitPid.
type board struct {
	path string
	conn *net.UnixConn
	ch   chan alive

	mu   sync.Mutex
	pids map[int]bool // every pid ever seen
}

func listenBoard(path string) (*board, error) {
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("alive socket %s: %w", path, err)
	}
	_ = c.SetReadBuffer(4 << 20)
	return &board{path: path, conn: c, ch: make(chan alive, 1<<16), pids: map[int]bool{}}, nil
}

// run reads datagrams until the socket is closed.
func (b *board) run() {
	buf := make([]byte, 128)
	for {
		n, err := b.conn.Read(buf)
		if err != nil {
			close(b.ch)
			return
		}
		f := strings.Fields(string(buf[:n]))
		if len(f) != 2 {
			continue
		}
		pid, err1 := strconv.Atoi(f[0])
		ns, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		b.mu.Lock()
		b.pids[pid] = true
		b.mu.Unlock()
		b.ch <- alive{pid: pid, at: time.Unix(0, ns)}
	}
}

func (b *board) close() error { return b.conn.Close() }

// drain discards datagrams already received.
func (b *board) drain() {
	for {
		select {
		case <-b.ch:
		default:
			return
		}
	}
}

var errTimeout = errors.New("timed out")

// next returns the next datagram, or errTimeout after d.
func (b *board) next(ctx context.Context, d time.Duration) (alive, error) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case a, ok := <-b.ch:
		if !ok {
			return alive{}, errors.New("alive socket closed")
		}
		return a, nil
	case <-t.C:
		return alive{}, errTimeout
	case <-ctx.Done():
		return alive{}, ctx.Err()
	}
}

// waitN waits for n datagrams from distinct pids within d and returns
// them in arrival order.
func (b *board) waitN(ctx context.Context, n int, d time.Duration) ([]alive, error) {
	deadline := time.Now().Add(d)
	seen := map[int]bool{}
	var out []alive
	for len(out) < n {
		a, err := b.next(ctx, time.Until(deadline))
		if err != nil {
			return out, fmt.Errorf("%d of %d workers alive: %w", len(out), n, err)
		}
		if !seen[a.pid] {
			seen[a.pid] = true
			out = append(out, a)
		}
	}
	return out, nil
}

// waitNew waits for a datagram from a pid not in old.
func (b *board) waitNew(ctx context.Context, old map[int]bool, d time.Duration) (alive, error) {
	deadline := time.Now().Add(d)
	for {
		a, err := b.next(ctx, time.Until(deadline))
		if err != nil {
			return a, err
		}
		if !old[a.pid] {
			return a, nil
		}
	}
}

// last returns the latest time among as.
func last(as []alive) time.Time {
	var t time.Time
	for _, a := range as {
		if a.at.After(t) {
			t = a.at
		}
	}
	return t
}

// errManagerExited says a manager ended while the runner waited for its
// workers.
var errManagerExited = errors.New("manager exited")

// waitWorkers is waitN for in's workers that fails at once, with the
// manager's exit status and log, when the manager exits before they are
// all alive (not after the whole timeout).
func (b *bench) waitWorkers(ctx context.Context, in *instance, n int, d time.Duration) ([]alive, error) {
	wctx, cancel := context.WithCancelCause(ctx)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		select {
		case <-in.p.done:
			cancel(errManagerExited)
		case <-wctx.Done():
		}
	}()
	as, err := b.board.waitN(wctx, n, d)
	cancel(nil)
	<-watched
	if err != nil && ctx.Err() == nil && errors.Is(context.Cause(wctx), errManagerExited) {
		return as, fmt.Errorf("%s (pid %d) exited (%v) with %d of its %d workers alive; log: %s",
			in.kind, in.p.pid(), in.p.err, len(as), n, in.logTail())
	}
	if err != nil {
		return as, fmt.Errorf("%w; log: %s", err, in.logTail())
	}
	return as, nil
}
