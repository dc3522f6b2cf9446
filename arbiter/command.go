package arbiter

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/poold/poold/arbiter/wire"
	"github.com/poold/poold/configs"
)

// The protocol's messages are wire's; arbiter names them as its own.
type (
	Request      = wire.Request
	Reply        = wire.Reply
	CommandError = wire.CommandError
)

// Errno values of error replies (PROTOCOL.md section 1).
const (
	ErrnoUnspecified = wire.ErrnoUnspecified
	ErrnoBadJSON     = wire.ErrnoBadJSON
	ErrnoUnknownCmd  = wire.ErrnoUnknownCmd
	ErrnoBadProperty = wire.ErrnoBadProperty
	ErrnoOS          = wire.ErrnoOS
	ErrnoFailed      = wire.ErrnoFailed
	ErrnoAsync       = wire.ErrnoAsync
	ErrnoForbidden   = wire.ErrnoForbidden
)

// NotRun is the field, true, of an error reply to a command poold did
// not run (wire.NotRun): the client may send it again.
const NotRun = wire.NotRun

// errorf builds a CommandError.
func errorf(errno int, format string, args ...any) *CommandError {
	return &CommandError{Errno: errno, Reason: fmt.Sprintf(format, args...)}
}

// OK returns a success reply for id carrying fields.
func OK(id string, fields map[string]any) Reply { return wire.OK(id, fields) }

// Fail returns an error reply for id. A non-CommandError counts as errno 0.
func Fail(id string, err error) Reply { return wire.Fail(id, err) }

// FailReply encodes the error reply to the request frame raw, as Handle
// would answer it: for the control endpoint's own refusals (busy, access
// refused, a handler that panicked). send is false for a cast, which gets
// no reply.
func FailReply(raw []byte, err error) (reply []byte, send bool) {
	req, id, derr := decodeFields(raw)
	if derr == nil && req.MsgType == "cast" {
		return nil, false
	}
	return encodeReply(Fail(req.ID, err), id), true
}

// encodeReply encodes r with id echoed as circusd does: the id as sent,
// a number as a number, and null for a request without one (or one that
// is not JSON). id is decodeFields's.
func encodeReply(r Reply, id any) []byte {
	if r != nil {
		r["id"] = id
	}
	b, err := marshalReply(r)
	if err != nil {
		f := Fail("", fmt.Errorf("encode reply: %w", err))
		f["id"] = id
		b, _ = json.Marshal(f)
	}
	return b
}

// DecodeRequest parses one request frame. Property names are kept as sent;
// the command name is lower-cased.
func DecodeRequest(raw []byte) (Request, error) {
	req, _, err := decodeRequest(raw)
	return req, err
}

// decodeRequest is DecodeRequest that also returns the id as sent when it
// is not a string (circusd echoes a number as a number; Request.ID holds
// its JSON text).
func decodeRequest(raw []byte) (req Request, id any, err error) {
	req, id, err = decodeFields(raw)
	if _, isString := id.(string); isString {
		id = nil
	}
	return req, id, err
}

func decodeFields(raw []byte) (Request, any, error) {
	var req Request
	var probe any
	// encoding/json turns invalid UTF-8 into U+FFFD and goes on, which
	// would run a command (or spawn an argv) the client never sent.
	// circusd refuses such a frame as invalid JSON; so does poold.
	if err := CheckUTF8(raw); err != nil {
		return req, nil, err
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		if te := (*json.UnmarshalTypeError)(nil); errors.As(err, &te) {
			return hugeNumber(raw, te)
		}
		return req, nil, errorf(ErrnoBadJSON, "request is not valid JSON: %v", err)
	}
	obj, ok := probe.(map[string]any)
	if !ok {
		return req, nil, errorf(ErrnoBadJSON, "request must be a JSON object, got %s", jsonKind(probe))
	}
	return fromObject(obj)
}

// CheckDuplicates refuses a request (a frame, a console message or an API
// body) that gives a key twice in one object; raw must be well-formed
// JSON (a request DecodeRequest read). Decoding
// keeps the last and drops the first without a word, so
// {"command": "status", "command": "quit"} ran quit, while a proxy or a
// filter reading the first key saw status. A config file is refused for
// it too (configs.DuplicateKeys). It is checked where a request is run,
// once, not in DecodeRequest, which the controller calls for each look at
// a frame (access, parking): what they read of a refused one runs nothing.
func CheckDuplicates(raw []byte) error {
	dups := configs.DuplicateKeys(raw)
	if len(dups) == 0 {
		return nil
	}
	parts := make([]string, len(dups))
	for i, p := range dups {
		parts[i] = fmt.Sprintf("at line %d, column %d: %s: %s", p.Line, p.Column, p.Key, p.Msg)
	}
	return errorf(ErrnoBadJSON, "request is ambiguous: %s", strings.Join(parts, "; "))
}

// hugeNumber refuses valid JSON with a number beyond float64 (e.g. 400
// digits; Python reads it), keeping the request's id when it can be read.
func hugeNumber(raw []byte, te *json.UnmarshalTypeError) (Request, any, error) {
	var req Request
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil {
		return req, nil, errorf(ErrnoBadJSON, `request must be a JSON object, got %.20s; send {"command": "status", "properties": {}}`, raw)
	}
	var id any
	if json.Unmarshal(members["id"], &id) == nil {
		req, id, _ = fromObject(map[string]any{"id": id})
	}
	num, _ := strings.CutPrefix(te.Value, "number ")
	at := te.Offset - int64(len(num)) - 1 // Offset is past the byte after it
	if len(num) > 24 {
		num = fmt.Sprintf("%s... (%d characters)", num[:16], len(num))
	}
	return req, id, errorf(ErrnoBadProperty, "request has a number poold cannot hold, at byte %d: %s; numbers go up to about 1.8e308, send a smaller one", at, num)
}

// fromObject reads a request decoded as a JSON object.
func fromObject(obj map[string]any) (Request, any, error) {
	var req Request
	id := obj["id"]
	if id != nil {
		switch v := id.(type) {
		case string:
			req.ID = v
		default:
			b, _ := json.Marshal(v)
			req.ID = string(b)
		}
	}
	cmd, ok := obj["command"].(string)
	if !ok || cmd == "" {
		return req, id, errorf(ErrnoBadProperty, `request has no "command" string; send {"command": "status", "properties": {}}`)
	}
	req.Command = strings.ToLower(cmd)
	if p, ok := obj["properties"]; ok && p != nil {
		props, ok := p.(map[string]any)
		if !ok {
			return req, id, errorf(ErrnoBadProperty, `"properties" must be a JSON object, got %s`, jsonKind(p))
		}
		req.Properties = props
	}
	if mt, ok := obj["msg_type"].(string); ok {
		req.MsgType = mt
	}
	return req, id, nil
}

// CheckUTF8 refuses a request (a frame, or an API body) that is not
// UTF-8, naming where it stops being so.
func CheckUTF8(raw []byte) error {
	if utf8.Valid(raw) {
		return nil
	}
	return errorf(ErrnoBadJSON, "request is not valid JSON: %s; encode the request as UTF-8", badUTF8(raw))
}

// badUTF8 words where raw stops being UTF-8: the offset and the bytes.
func badUTF8(raw []byte) string {
	at := 0
	for at < len(raw) {
		r, n := utf8.DecodeRune(raw[at:])
		if r == utf8.RuneError && n <= 1 {
			break
		}
		at += n
	}
	end := min(at+4, len(raw))
	return fmt.Sprintf("invalid UTF-8 at byte %d (% x)", at, raw[at:end])
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case float64:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	default:
		return "an object"
	}
}
