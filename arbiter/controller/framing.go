package controller

import (
	"fmt"
	"strings"

	"github.com/poold/poold/arbiter"
)

// split reads a ROUTER message as a ZeroMQ envelope and a request, the
// way a REP socket does: the frames up to and including the first empty
// one (the delimiter) are the envelope to echo, and one frame holding the
// request must follow. Without a delimiter the envelope is the identity
// alone (a DEALER). So [id, json] is a DEALER request, [id, "", json] a
// REQ request, [id, hop, "", json] a REQ request through a proxy; a
// two-frame message is always a DEALER's, even [id, ""] (an empty
// request, answered as not JSON).
//
// problem is empty for a request; otherwise it says what is wrong with
// the frames after the envelope, for an error reply routed by envelope.
// envelope is nil when nothing can be routed (no identity).
func split(f [][]byte) (envelope [][]byte, raw []byte, problem string) {
	if len(f) < 2 || len(f[0]) == 0 {
		return nil, nil, "no routing identity"
	}
	if len(f) == 2 {
		return f[:1], f[1], ""
	}
	envelope, body := f[:1], f[1:]
	for i := 1; i < len(f); i++ {
		if len(f[i]) == 0 {
			envelope, body = f[:i+1], f[i+1:]
			break
		}
	}
	switch len(body) {
	case 1:
		return envelope, body[0], ""
	case 0:
		return envelope, nil, "no request frame after the empty delimiter frame"
	}
	sizes := make([]string, len(body))
	for i, b := range body {
		sizes[i] = fmt.Sprint(len(b))
	}
	return envelope, nil, fmt.Sprintf("%d frames after the routing envelope (of %s bytes), want one", len(body), strings.Join(sizes, ", "))
}

// malformed is the reply to a message split found a problem with: errno
// 1, naming the problem and the framing poold reads, with the id of the
// first frame that holds a request with one. send=false for a cast.
func malformed(f [][]byte, problem string) (reply []byte, send bool) {
	err := &arbiter.CommandError{Errno: arbiter.ErrnoBadJSON, Reason: "malformed request: " + problem +
		`; send the JSON request as one frame (a DEALER sends [request], a REQ socket adds the empty delimiter itself: ["", request])`}
	for _, b := range f[1:] {
		if req, derr := arbiter.DecodeRequest(b); req.ID != "" || (derr == nil && req.MsgType == "cast") {
			return arbiter.FailReply(b, err)
		}
	}
	return arbiter.FailReply(nil, err) // no id: null
}
