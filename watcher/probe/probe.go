// Package probe runs one-shot readiness and health checks of a worker: a
// TCP connect, an HTTP GET that must answer 2xx, or a command that must
// exit 0.
//
// Concurrency: a Probe is immutable and safe for concurrent use; Check
// blocks for as long as the check takes, bounded only by its ctx, so the
// caller runs it off the arbiter's loop with a deadline (HealthTimeout)
// and posts the result back. Poll repeats a check until it passes or its
// ctx ends. Nothing here starts a goroutine that outlives the call.
package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"time"
)

// Probe is one check.
type Probe interface {
	// Check returns nil if the check passed, else an *Error.
	Check(ctx context.Context) error
}

// Error says what was probed and what went wrong:
// "http probe http://127.0.0.1:9001/health: status 503".
type Error struct {
	Kind   string // tcp, http, exec
	Target string // the address, URL or command
	Reason string // short: "connection refused", "status 503", "timed out"
	Err    error  // the underlying error, if any
	Noun   string // what it is called in Error(), "" for Kind + " probe"
}

func (e *Error) Error() string {
	noun := e.Noun
	if noun == "" {
		noun = e.Kind + " probe"
	}
	return noun + " " + e.Target + ": " + e.Reason
}

func (e *Error) Unwrap() error { return e.Err }

func fail(kind, target string, err error) *Error {
	return &Error{Kind: kind, Target: target, Reason: reason(err), Err: err}
}

// reason boils an error from net, net/http or os/exec down to its cause.
func reason(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	var se *os.SyscallError
	if errors.As(err, &se) {
		return se.Err.Error()
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	var ee *exec.Error
	if errors.As(err, &ee) {
		return ee.Err.Error()
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return reason(ue.Err)
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err.Error()
	}
	return err.Error()
}

// Poll checks p every interval until a check passes (nil) or ctx ends; it
// then returns the last check's error. The first check runs at once; a
// check that is in flight when ctx ends is cut short by ctx, and one that
// takes longer than attempt (> 0) fails, so one request a worker never
// answers does not hold the poll until ctx ends.
func Poll(ctx context.Context, p Probe, interval, attempt time.Duration) error {
	var t *time.Timer
	for {
		err := checkWithin(ctx, p, attempt)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
		if t == nil {
			t = time.NewTimer(interval)
			defer t.Stop()
		} else {
			t.Reset(interval)
		}
		select {
		case <-ctx.Done():
			return err
		case <-t.C:
		}
	}
}

func checkWithin(ctx context.Context, p Probe, d time.Duration) error {
	if d <= 0 {
		return p.Check(ctx)
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return p.Check(ctx)
}

type tcpProbe struct{ addr string }

// TCP passes when address ("host:port") accepts a connection, which it
// closes at once.
func TCP(address string) Probe { return tcpProbe{address} }

func (p tcpProbe) Check(ctx context.Context) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return fail("tcp", p.addr, err)
	}
	c.Close()
	return nil
}

// client is shared by every HTTP probe. Keep-alives are off so a probe
// never holds an idle connection to (and so a slot of) a worker; no proxy
// from the environment; redirects are not followed, so a 3xx fails.
var client = &http.Client{
	Transport: &http.Transport{
		Proxy:                  nil,
		DialContext:            (&net.Dialer{}).DialContext,
		DisableKeepAlives:      true,
		MaxResponseHeaderBytes: 64 << 10,
	},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

type httpProbe struct{ url string }

// HTTP passes when a GET of url answers with a 2xx status.
func HTTP(url string) Probe { return httpProbe{url} }

func (p httpProbe) Check(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url, nil)
	if err != nil {
		return fail("http", p.url, err)
	}
	req.Header.Set("User-Agent", "poold-probe")
	resp, err := client.Do(req)
	if err != nil {
		return fail("http", p.url, err)
	}
	// Read a little of the body so the worker is not cut off mid-write;
	// the connection is closed either way.
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &Error{Kind: "http", Target: p.url, Reason: fmt.Sprintf("status %d", resp.StatusCode)}
	}
	return nil
}
