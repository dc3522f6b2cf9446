// Package wire holds the control protocol's messages (PROTOCOL.md section
// 1) as poold and its clients both see them: requests, replies, errnos and
// which commands change nothing. It imports nothing of poold's, so a
// client such as poolctl links the protocol without the server behind it.
package wire

import (
	"errors"
	"maps"
	"slices"
	"time"
)

// Errno values of error replies (PROTOCOL.md section 1). 0 to 6 are
// Circus's; ErrnoForbidden is poold's own (Circus has no access rules).
const (
	ErrnoUnspecified = 0
	ErrnoBadJSON     = 1
	ErrnoUnknownCmd  = 2
	ErrnoBadProperty = 3
	ErrnoOS          = 4
	ErrnoFailed      = 5
	ErrnoAsync       = 6
	// ErrnoForbidden: the caller may not run this command
	// (arbiter.control_allow, API tokens).
	ErrnoForbidden = 7
)

// NotRun is the field, true, of an error reply to a request poold took
// and did not run: an upgrade in place was re-executing poold (errno 5).
// Whatever the command, a client may send it again; Circus clients, which
// do not know the field, see the reason, which says so too.
const NotRun = "not_run"

// MaxRequest is the largest control request poold reads, in bytes; a
// client refuses to send a larger one rather than have the connection cut.
const MaxRequest = 1 << 20

// Request is one control request.
type Request struct {
	ID         string         `json:"id"`
	Command    string         `json:"command"`
	Properties map[string]any `json:"properties,omitempty"`
	// MsgType "cast" means fire-and-forget: no reply is sent.
	MsgType string `json:"msg_type,omitempty"`
}

// Reply is the JSON object sent back: status, time, id and the command's
// own fields.
type Reply map[string]any

// CommandError is an error reply: what the user sees as reason and errno.
type CommandError struct {
	Errno  int
	Reason string
}

func (e *CommandError) Error() string { return e.Reason }

// OK returns a success reply for id carrying fields.
func OK(id string, fields map[string]any) Reply {
	r := Reply{"status": "ok", "time": unixNow(), "id": id}
	for k, v := range fields {
		r[k] = v
	}
	return r
}

// Fail returns an error reply for id. A non-CommandError counts as errno 0.
func Fail(id string, err error) Reply {
	ce := &CommandError{Errno: ErrnoUnspecified, Reason: err.Error()}
	errors.As(err, &ce)
	// tb: circusd's traceback field, always there (None unless a command
	// raised); poold has no traceback to give.
	return Reply{"status": "error", "reason": ce.Reason, "tb": nil, "errno": ce.Errno, "time": unixNow(), "id": id}
}

func unixNow() float64 { return float64(time.Now().UnixNano()) / 1e9 }

// ReadOnly reports whether command changes nothing on poold (list,
// status, stats, get, options, listsockets, events_since, ...): what a
// read-only caller may run, and what a client may send again after a
// lost connection.
func ReadOnly(command string) bool { return readOnly[command] }

var readOnly = map[string]bool{
	"list": true, "status": true, "numwatchers": true, "numprocesses": true, "get": true,
	"options": true, "globaloptions": true, "stats": true, "dstats": true, "listsockets": true,
	"events_since": true, "logs": true, "upgrade_status": true,
}

// ReadOnlyCommands lists the commands ReadOnly accepts, sorted.
func ReadOnlyCommands() []string { return slices.Sorted(maps.Keys(readOnly)) }
