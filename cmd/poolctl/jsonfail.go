package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/poold/poold/arbiter/controller/ctlclient"
	"github.com/poold/poold/web/remote"
)

// outWatch is poolctl's stdout, noting whether anything was written to
// it: with --json, a run that ends without printing one of poold's
// replies prints its own (jsonFailure), so that a script parsing stdout
// always gets a JSON object.
type outWatch struct {
	w     io.Writer
	wrote atomic.Bool
}

func (o *outWatch) Write(p []byte) (int, error) {
	if len(p) > 0 {
		o.wrote.Store(true)
	}
	return o.w.Write(p)
}

// unwrapOut is the writer under w when w is poolctl's outWatch (isTerminal
// looks at the file itself).
func unwrapOut(w io.Writer) io.Writer {
	if o, ok := w.(*outWatch); ok {
		return o.w
	}
	return w
}

// Kinds of a failure with no reply of poold's, the "error" field of
// poolctl's own JSON: what a script can branch on besides the exit status.
const (
	failUsage       = "usage"           // exit 2
	failUnreachable = "unreachable"     // exit 3: could not connect
	failTimeout     = "timeout"         // exit 3: no answer within --timeout
	failConnLost    = "connection_lost" // exit 3: it may or may not have been done
	failInterrupted = "interrupted"     // exit 130
	failLocal       = "local"           // exit 1: poolctl's own failure
	failReply       = "reply"           // exit 1: poold's error, printed as poold gave it
)

// failKind is err's kind for jsonFailure, given the exit status it maps to.
func failKind(err error, code int) string {
	switch {
	case code == exitUsage:
		return failUsage
	case code == exitInterrupted:
		return failInterrupted
	case code == exitUnreachable && (errors.Is(err, ctlclient.ErrTimeout) || errors.Is(err, remote.ErrTimeout) || errors.Is(err, context.DeadlineExceeded)):
		return failTimeout
	case code == exitUnreachable && errors.Is(err, ctlclient.ErrConnLost):
		return failConnLost
	case code == exitUnreachable:
		return failUnreachable
	}
	var re replyError
	if errors.As(err, &re) {
		return failReply
	}
	return failLocal
}

// jsonFailure prints, with --json, the object that stands for poold's
// reply when poolctl has none to print (poold unreachable or silent, bad
// usage, a local failure): status "error", errno 0 (the protocol's
// "unspecified", or poold's own errno when it gave one), reason (the
// stderr message), error (failKind) and exit_status. Nothing when stdout
// already has output (poold's reply, as it came).
func (a *app) jsonFailure(err error, msg string, code int) {
	if !(a.json || code == exitUsage && jsonAsked(a.args)) || a.out == nil || a.out.wrote.Load() {
		return
	}
	errno := 0
	var re replyError
	if errors.As(err, &re) {
		errno = re.errno
	}
	b, jerr := json.Marshal(map[string]any{
		"status": "error", "errno": errno, "reason": msg,
		"error": failKind(err, code), "exit_status": code,
	})
	if jerr != nil {
		return
	}
	fmt.Fprintf(a.stdout, "%s\n", b)
}

// jsonAsked reports whether args ask for --json before any "--": cobra
// parses no flag of a command line whose command it does not know.
func jsonAsked(args []string) bool {
	for _, arg := range args {
		switch arg {
		case "--":
			return false
		case "--json", "--json=true", "--json=1":
			return true
		}
	}
	return false
}

// withFailKeys is poold's error reply raw with poolctl's "error" (reply)
// and "exit_status" (1) added at its end, so that every object --json
// prints for a failure has the keys jsonFailure's have; poold's own keys
// stay as they came. Any other reply is raw unchanged.
func withFailKeys(raw []byte, r reply) []byte {
	if st, _ := r["status"].(string); st != "error" {
		return raw
	}
	if _, has := r["error"]; has {
		return raw
	}
	body := bytes.TrimRight(raw, " \t\r\n")
	if len(body) < 2 || body[len(body)-1] != '}' {
		return raw
	}
	out := make([]byte, 0, len(body)+40)
	out = append(out, body[:len(body)-1]...)
	if len(bytes.TrimSpace(body[1:len(body)-1])) > 0 {
		out = append(out, ',')
	}
	return fmt.Appendf(out, `"error":%q,"exit_status":%d}`, failReply, exitReplyError)
}
