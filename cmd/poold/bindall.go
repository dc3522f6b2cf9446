package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"syscall"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/events/zmqguard"
	"github.com/poold/poold/sockets"
)

// A start binds poold's endpoints one after the other and stops at the
// first that fails. A second project started on the same defaults as a
// running one clashes on every endpoint, and learning them one start at
// a time costs a developer four edits and restarts. So a start that
// fails to bind one completes its error with every other address of the
// config that cannot be bound now: what it had not tried yet is bound
// and closed at once, and the start still exits with nothing bound and
// no worker started.

// streamNames are the names startTransports runs the control endpoint
// and the event and stats streams under, in the order errors list them.
var streamNames = []string{"control endpoint", "event stream", "stats stream"}

// awaitStreams waits until each of the three streams is bound (ready)
// or failed, and returns the failures in streamNames' order; ended is
// true when ctx ended first.
func awaitStreams(ctx context.Context, failed <-chan error, ready [3]<-chan struct{}) (errs []error, ended bool) {
	for n := 0; n < len(ready); n++ {
		select {
		case <-ready[0]:
			ready[0] = nil
		case <-ready[1]:
			ready[1] = nil
		case <-ready[2]:
			ready[2] = nil
		case err := <-failed:
			errs = append(errs, err)
		case <-ctx.Done():
			return nil, true
		}
	}
	slices.SortStableFunc(errs, func(a, b error) int { return streamIndex(a) - streamIndex(b) })
	return errs, false
}

func streamIndex(err error) int {
	for i, name := range streamNames {
		if strings.HasPrefix(err.Error(), name+": ") {
			return i
		}
	}
	return len(streamNames)
}

// notBound is the error of a start that failed with errs: errs alone
// when none is a bind failure or the start is an upgrade's new image,
// else errs and every HTTP listener and socket of the config that could
// not be bound now either. h, when the HTTP part was started, tells
// which listeners it holds (those are not tried again).
func (d *daemon) notBound(errs []error, h *httpParts) error {
	if adoptState != nil || !slices.ContainsFunc(errs, isBindErr) {
		return errors.Join(errs...)
	}
	for _, l := range httpListenersOf(d.cfg.Web) {
		name := httpName(l)
		held := h != nil && ((l.role == "console" && h.console != nil) || (l.role == "metrics" && h.probes != nil))
		tried := slices.ContainsFunc(errs, func(err error) bool { return strings.HasPrefix(err.Error(), name+": ") })
		if held || tried || anyPort(l.addr) {
			continue
		}
		if err := tryListen(l.addr); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, explainBind(zmqguard.BindError(l.key, l.addr, err), d.path)))
		}
	}
	if len(passedSockets) == 0 { // passed sockets are taken, not bound
		if err := arbiter.SocketsBindable(d.cfg); err != nil {
			errs = append(errs, socketErrs(err)...)
		}
	}
	if len(errs) == 1 {
		return errs[0]
	}
	return bindFailures(errs)
}

// httpName names l in errors, as startConsole and startMetrics do.
func httpName(l httpListener) string {
	if l.role == "console" {
		return "web console"
	}
	return "metrics listener"
}

// tryListen binds addr and closes it at once.
func tryListen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return ln.Close()
}

// socketErrs are the failures of the sockets in err, one each.
func socketErrs(err error) []error {
	var out []error
	for _, e := range sockets.Errors(err) {
		out = append(out, e)
	}
	if len(out) == 0 {
		return []error{err}
	}
	return out
}

func isBindErr(err error) bool {
	var be *zmqguard.BindErr
	var se *sockets.Error
	return errors.As(err, &be) || errors.As(err, &se)
}

// bindFailures is the error of a start that could bind several of its
// addresses: one line each, under a line that says so.
type bindFailures []error

func (b bindFailures) Error() string {
	lines := []string{fmt.Sprintf("%d addresses of this config cannot be bound, so poold started nothing (no worker, nothing left bound); fix them all, then start again:", len(b))}
	for _, err := range b {
		lines = append(lines, "  "+err.Error())
	}
	if b.endpointsInUse() > 1 {
		lines = append(lines, "  (another poold on the same endpoints? give this config endpoints of its own: arbiter.endpoint, arbiter.pubsub_endpoint, "+
			"arbiter.stats_endpoint, and web.address if the console is on; or stop the other one: poolctl --endpoint ENDPOINT quit)")
	}
	return strings.Join(lines, "\n")
}

func (b bindFailures) Unwrap() []error { return b }

// endpointsInUse counts the failures of poold's own endpoints whose
// address another process holds, one not known to be other than a poold
// (a holder named as another program is no sign of a second poold).
func (b bindFailures) endpointsInUse() int {
	n := 0
	for _, err := range b {
		var be *zmqguard.BindErr
		if errors.As(err, &be) && errors.Is(err, syscall.EADDRINUSE) && !be.ByOther {
			n++
		}
	}
	return n
}
