package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/poold/poold/arbiter/controller/ctlclient"
	"github.com/poold/poold/arbiter/wire"
	"github.com/poold/poold/configs/rundir"
	"github.com/poold/poold/web/remote"
)

// call is one control command as the user typed it.
type call struct {
	command string
	what    string // the user's words, for messages: "stop web"
	props   map[string]any
	waits   bool     // long-running on poold: --waiting applies
	wait    waitMode // what this call waits for (noWait: the answer only)
	watcher string   // the watcher it is about, "" = all
	verdict verdict  // judges the printed reply (status --exit-code); nil: none
}

// do sends one command and prints its reply.
func (a *app) do(ctx context.Context, cl call) error {
	if len(a.urls) > 1 {
		if cl.verdict != nil {
			return usagef("%s --exit-code judges one poold: give one --url (%d hosts given by --url, --hosts-file or POOLCTL_URL)", cl.command, len(a.urls))
		}
		return a.fleetCall(ctx, cl)
	}
	timeout := a.timeoutFor(cl.wait)
	client, err := a.dial()
	if err != nil {
		return err
	}
	defer client.Close()
	stop := func() {}
	if cl.wait != noWait {
		cl.props["waiting"] = true
		if !a.quiet {
			stop = a.progress(ctx, client, cl)
		}
	}
	decode := decodeReply
	if a.json && cl.verdict == nil { // printed as it came: only its status is read
		decode = decodeHead
	}
	sent := time.Now()
	raw, r, err := a.exchange(ctx, client, cl, timeout, decode)
	stop() // the progress printer is done with stderr before we write
	switch {
	case err == nil && a.notRun(r), a.notSent(err):
		raw, r, err = a.againNotRun(ctx, cl, timeout, decode)
	case err == nil:
	case a.askAgain(cl, err):
		raw, r, err = a.againAfterLoss(ctx, cl, timeout, decode)
	case a.cutShort(err):
		err = a.lostAnswer(ctx, cl, sent, err)
	}
	if err != nil {
		return err
	}
	name, _ := cl.props["name"].(string)
	if err := a.print(cl.command, name, raw, r); err != nil || cl.verdict == nil {
		return err
	}
	return cl.verdict(ctx, a, client, name, r)
}

// lossRedial bounds the dial after a lost connection: an upgrade in
// place takes the endpoint over within milliseconds (poolctl upgrade
// gives up on a poold whose endpoint refuses for 3s).
const lossRedial = 3 * time.Second

// askAgain tells whether cl may be sent again after err: a read-only
// command (it changes nothing, so running it twice is harmless) whose
// connection closed before its answer came, as it does when poold
// re-executes itself in an upgrade (poolctl upgrade, SIGUSR2) meanwhile.
func (a *app) askAgain(cl call, err error) bool {
	return !a.remote() && cl.wait == noWait && wire.ReadOnly(cl.command) && errors.Is(err, ctlclient.ErrConnLost)
}

// againAfterLoss dials poold again and sends cl once more, retrying
// while poold is unreachable or the new connection is lost too (one the
// old image accepted just before its exec), for up to lossRedial.
func (a *app) againAfterLoss(ctx context.Context, cl call, timeout time.Duration, decode func([]byte) (reply, error)) ([]byte, reply, error) {
	dctx, cancel := context.WithTimeout(ctx, lossRedial)
	defer cancel()
	for {
		client, err := ctlclient.DialContext(dctx, a.endpoint)
		if err != nil {
			return nil, nil, a.unreachable(err)
		}
		raw, r, err := a.exchange(ctx, client, cl, timeout, decode)
		client.Close()
		if err == nil || !(errors.Is(err, ctlclient.ErrConnLost) || a.notSent(err)) || dctx.Err() != nil {
			return raw, r, err
		}
	}
}

// print writes the reply (raw with --json, else human) and turns an error
// reply into a replyError. The config's warnings and the settings a
// reload could not apply are warned of on stderr, with --json too; name
// is the watcher the command named ("" for none), for the warnings' advice.
func (a *app) print(command, name string, raw []byte, r reply) error {
	warnings := append(configWarnings(r), restartWarnings(r)...)
	warnings = append(warnings, scaleWarnings(command, name, r)...)
	defer func() {
		for _, w := range warnings {
			fmt.Fprintf(a.stderr, "poolctl: %s\n", w)
		}
	}()
	if a.json {
		if _, err := fmt.Fprintf(a.stdout, "%s\n", withFailKeys(raw, r)); err != nil {
			return runError{err}
		}
	}
	if st, _ := r["status"].(string); st == "error" {
		reason, _ := r["reason"].(string)
		if reason == "" {
			reason = "poold answered with an error and no reason"
		}
		// A failed reloadconfig still says what became of each watcher.
		if !a.json && hasOutcome(r) {
			if err := a.buffered(func(w io.Writer) error { return formatOutcome(w, r) }); err != nil {
				return runError{err}
			}
		}
		errno := int(num(r["errno"]))
		if len(a.urls) == 1 {
			reason += a.tokenNote(a.urls[0], errno)
		}
		return replyError{reason: reason, errno: errno}
	}
	// Circus quirk kept on purpose: "status NAME" puts the watcher's
	// status in "status", so anything but "error" is success.
	if a.json {
		return nil
	}
	if err := a.buffered(func(w io.Writer) error { return formatReply(w, command, r) }); err != nil {
		return runError{err}
	}
	return nil
}

// buffered runs fn on a buffered stdout, then flushes it: a table of
// thousands of rows goes out in a few writes rather than one per cell.
func (a *app) buffered(fn func(w io.Writer) error) error {
	bw := bufio.NewWriterSize(a.stdout, 64<<10)
	err := fn(bw)
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	return err
}

var requestSeq atomic.Uint64

func newID() string {
	return "poolctl-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatUint(requestSeq.Add(1), 10)
}

// roundTrip sends cl and waits up to timeout for its reply.
func (a *app) roundTrip(ctx context.Context, client caller, cl call, timeout time.Duration) ([]byte, reply, error) {
	return a.exchange(ctx, client, cl, timeout, decodeReply)
}

// exchange is roundTrip with the reply decoded by decode.
func (a *app) exchange(ctx context.Context, client caller, cl call, timeout time.Duration, decode func([]byte) (reply, error)) ([]byte, reply, error) {
	req := wire.Request{ID: newID(), Command: cl.command, Properties: cl.props}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, nil, runError{fmt.Errorf("encode %s request: %w", cl.command, err)}
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	raw, err := client.Call(cctx, body)
	if err != nil {
		return nil, nil, a.callError(ctx, cl, timeout, err)
	}
	r, err := decode(raw)
	if err != nil {
		return nil, nil, runError{fmt.Errorf("poold at %s sent a reply that is not a JSON object (%v): %.200q", a.endpoint, err, raw)}
	}
	return raw, r, nil
}

// decodeReply decodes a whole reply.
func decodeReply(raw []byte) (reply, error) {
	var r reply
	err := json.Unmarshal(raw, &r)
	return r, err
}

// decodeHead decodes only what says whether a reply is an error and why
// (and the settings a reload left for a restart, and the config's
// warnings, and what a decr past the pool says), for a reply printed
// raw: a map per process of `stats` at 10,000 workers cost poolctl more
// than poold spent answering. Keys match exactly, as in
// decodeReply (a struct would match them in any case).
func decodeHead(raw []byte) (reply, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return nil, err
	}
	r := reply{}
	for _, k := range []string{"status", "reason", "errno", "restart_needed", "warnings", wire.NotRun, "numprocesses", "previous", "max", "min", "limit"} {
		if v, ok := top[k]; ok {
			var x any
			if err := json.Unmarshal(v, &x); err != nil {
				return nil, err
			}
			r[k] = x
		}
	}
	return r, nil
}

// callError explains why a call got no reply.
func (a *app) callError(ctx context.Context, cl call, timeout time.Duration, err error) error {
	inProgress := "poold did not answer; is it stuck? raise --timeout"
	if cl.waits {
		inProgress = "still in progress on poold"
	}
	switch {
	case ctx.Err() != nil:
		return interruptedError{fmt.Sprintf("interrupted while waiting for '%s' (%s)", cl.what, inProgress)}
	case errors.Is(err, ctlclient.ErrTimeout), errors.Is(err, remote.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return connError{fmt.Sprintf("timed out after %s waiting for '%s' (%s)", fmtDuration(timeout), cl.what, inProgress), err}
	case errors.Is(err, ctlclient.ErrUnreachable), errors.Is(err, remote.ErrUnreachable):
		return a.unreachable(err)
	case errors.Is(err, ctlclient.ErrTooLarge):
		return runError{fmt.Errorf("%s not sent: %w", cl.command, err)}
	}
	return connError{fmt.Sprintf("lost poold at %s during '%s': %v", a.endpoint, cl.what, err), err}
}

// dial connects to the control endpoint, or prepares the API client
// with --url. A missing ipc socket file is reported at once, without
// waiting for a dial to give up.
func (a *app) dial() (caller, error) {
	if a.remote() {
		if len(a.urls) > 1 {
			return nil, usagef("%d hosts given (--url, --hosts-file, POOLCTL_URL): only status, stats and events show a fleet; give one --url for other commands", len(a.urls))
		}
		return a.remoteClient(a.urls[0])
	}
	if err := checkEndpoint(a.endpoint); err != nil {
		return nil, a.badEndpoint(err)
	}
	if a.endpointFrom == "" {
		if err := rundir.CheckShared(); err != nil {
			return nil, connError{fmt.Sprintf("Will not talk to %s: %v", a.endpoint, err), err}
		}
	}
	if path, ok := strings.CutPrefix(a.endpoint, "ipc://"); ok {
		if _, err := os.Stat(path); err != nil {
			return nil, a.unreachable(err)
		}
	}
	within, _ := silentBudget(a.timeoutFor(noWait)) // the rest for the probe (unreachable)
	c, err := ctlclient.DialWithin(a.endpoint, within)
	if err != nil && !errors.Is(err, ctlclient.ErrUnreachable) {
		return nil, a.badEndpoint(err) // checkEndpoint let through what Dial refuses
	}
	if err != nil {
		return nil, a.unreachable(err)
	}
	return c, nil
}

// checkEndpoint refuses a control or event endpoint poolctl cannot dial,
// saying how to write one.
func checkEndpoint(ep string) error {
	scheme, addr, ok := strings.Cut(ep, "://")
	switch {
	case !ok:
		return errors.New("not an endpoint: write ipc:///path/to/control.sock or tcp://HOST:PORT")
	case scheme == "ipc" && addr == "":
		return errors.New("no socket path: write ipc:///path/to/control.sock")
	case scheme == "ipc":
		return nil
	case scheme == "tcp":
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			return fmt.Errorf("%v: write tcp://HOST:PORT", err)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("port %q is not a number from 1 to 65535: write tcp://HOST:PORT", port)
		}
		return nil
	case scheme == "http" || scheme == "https":
		return errors.New("that is a URL: use --url for poold's HTTPS API, --endpoint for its ZeroMQ control endpoint (ipc:// or tcp://)")
	}
	return fmt.Errorf("transport %q is not supported: write ipc:///path/to/control.sock or tcp://HOST:PORT", scheme)
}

// badEndpoint is the usage error for an endpoint that cannot be dialled,
// naming where it came from.
func (a *app) badEndpoint(err error) error {
	switch a.endpointFrom {
	case "":
		return usagef("the default endpoint %s: %v", a.endpoint, err)
	case "POOLCTL_ENDPOINT", "CIRCUSCTL_ENDPOINT":
		return usagef("%s=%s: %v", a.endpointFrom, a.endpoint, err)
	}
	return usagef("--endpoint %s: %v", a.endpoint, err)
}

// handshakeFailed reports whether a failed dial reached something that
// did not complete a ZeroMQ handshake as poold's control endpoint: not
// missing, refused or forbidden (those reasons already say what to do).
// A handshake that timed out is one too: an HTTP server waits silently
// for the end of a request line that zmq4's greeting never sends.
func handshakeFailed(err error) bool {
	return !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ECONNREFUSED) &&
		!errors.Is(err, fs.ErrPermission)
}

// unreachable is the exit-3 error for a failed connection, with the likely
// cause and what to do.
func (a *app) unreachable(err error) error {
	why := err.Error()
	var ue *ctlclient.UnreachableError
	var re *remote.UnreachableError
	switch {
	case errors.As(err, &ue) && handshakeFailed(ue.Err):
		why = ue.Reason
		_, probe := silentBudget(a.timeoutFor(noWait))
		if hint := probeEndpoint(a.endpoint, probe); hint != "" {
			why = hint
		}
	case errors.As(err, &ue):
		why = ue.Reason
	case errors.As(err, &re):
		why = re.Reason
	case errors.Is(err, fs.ErrNotExist):
		why = "no such socket: is poold running? set --endpoint or POOLCTL_ENDPOINT"
	}
	if a.endpointFrom == "" && errors.Is(err, fs.ErrNotExist) {
		if ep := elsewhere(a.endpoint); ep != "" {
			why = fmt.Sprintf("no such socket; a poold of yours listens at %s, the default where XDG_RUNTIME_DIR differs (a poold of a system unit has none; one of systemd --user has /run/user/UID): run poolctl --endpoint %s, or export POOLCTL_ENDPOINT=%s", ep, ep, ep)
		}
	}
	return connError{fmt.Sprintf("Cannot reach poold at %s (%s)", a.endpoint, why), err}
}
