package web

import (
	"errors"
	"net/http"
	"time"
)

// A reply goes out in parts, each given writeWait to leave: a client
// that stops reading (or never reads) is cut when a part does not leave
// in time, and its request ends, freeing its connection, its goroutine
// and the reply's bytes; one that reads slowly still gets the whole
// reply, however big. Only streams had a write deadline (SSE, the
// console's websocket), so any token holder (a read-only one will do)
// could ask for big replies (logs, stats of many workers, /metrics) on
// as many connections as the listener allows and read none: each held
// its bytes for good, and a request is never evicted to make room. What
// the big replies of clients that do read hold is bounded on top
// (replycap.go).

// replyPart is the most of a reply written under one deadline: a client
// must take this much within writeWait to be kept. A write of this much
// or more is a big reply's, counted in the ReplyBudget.
const replyPart = 64 << 10

// errReplyRefused is what a handler's write gets once its reply was
// refused for the ReplyBudget (the client got 503).
var errReplyRefused = errors.New("web: reply refused: over the budget of replies being read")

// progressWriter is a ResponseWriter whose every part of at most
// replyPart has wait to be written, and whose big writes count in
// budget under key. The status is held back until the first write, so
// that a first write over the budget can still become a 503.
type progressWriter struct {
	http.ResponseWriter
	rc   *http.ResponseController
	wait time.Duration

	budget *ReplyBudget // nil: not counted (a stream)
	key    string       // "token NAME" or "client ADDRESS"
	// apiRefuse, when set, writes the 503 of a refused reply (an API
	// command's is a Circus reply).
	apiRefuse func(w http.ResponseWriter, why string)

	built func() // ends the reply's turn to be built (replycap.go); nil if none

	status  int  // held back by WriteHeader, 0 if none
	sent    bool // the status line has gone to the ResponseWriter
	refused bool
}

func (p *progressWriter) WriteHeader(code int) {
	if p.sent || p.status != 0 {
		return
	}
	if p.budget == nil || code < 200 {
		p.ResponseWriter.WriteHeader(code)
		p.sent = code >= 200
		return
	}
	p.status = code
}

// sendStatus sends the status held back, if any.
func (p *progressWriter) sendStatus() {
	if !p.sent && p.status != 0 {
		p.ResponseWriter.WriteHeader(p.status)
	}
	p.sent = true
}

func (p *progressWriter) Write(b []byte) (int, error) {
	if p.refused {
		return 0, errReplyRefused
	}
	if p.budget != nil && len(b) >= replyPart {
		n := int64(len(b))
		why := p.budget.take(p.key, n, !p.sent)
		p.endTurn() // counted (or refused) before the next turn checks
		if why != "" {
			p.refuse(why)
			return 0, errReplyRefused
		}
		defer p.budget.give(p.key, n)
	}
	p.endTurn()
	p.sendStatus()
	n := 0
	for len(b) > 0 {
		part := b[:min(len(b), replyPart)]
		_ = p.rc.SetWriteDeadline(time.Now().Add(p.wait))
		m, err := p.ResponseWriter.Write(part)
		n += m
		if err != nil {
			return n, err
		}
		b = b[m:]
	}
	return n, nil
}

// FlushError sends the status held back before flushing (what
// http.ResponseController.Flush calls).
func (p *progressWriter) FlushError() error {
	if p.refused {
		return errReplyRefused
	}
	p.sendStatus()
	return p.rc.Flush()
}

// Unwrap lets http.ResponseController (deadlines) reach the
// connection's writer.
func (p *progressWriter) Unwrap() http.ResponseWriter { return p.ResponseWriter }

// done sends the status held back of a reply without a body.
func (p *progressWriter) done() {
	p.endTurn()
	if !p.refused && !p.sent {
		_ = p.rc.SetWriteDeadline(time.Now().Add(p.wait))
		p.sendStatus()
	}
}

// refuse answers 503 in place of the reply. The deadline set when the
// request came may have passed while it waited for its turn to be
// built: the answer gets one of its own.
func (p *progressWriter) refuse(why string) {
	p.refused, p.sent = true, true
	_ = p.rc.SetWriteDeadline(time.Now().Add(p.wait))
	refuseReply(p.ResponseWriter, why, p.apiRefuse)
}

// endTurn ends the reply's turn to be built, if it has one.
func (p *progressWriter) endTurn() {
	if p.built != nil {
		p.built()
		p.built = nil
	}
}

// buildTurn waits for a turn to build w's big reply (replycap.go) and
// reports whether w got it; if not, its client is gone. The turn ends
// with the reply's first write, or the handler's end.
func buildTurn(w http.ResponseWriter, r *http.Request) bool {
	p, ok := w.(*progressWriter)
	if !ok || p.budget == nil {
		return true
	}
	end, err := p.budget.build(r.Context(), p.key)
	if err != nil {
		return false
	}
	p.built = end
	return true
}

// boundedReplies returns w for a handler: with writes bounded, as
// progressWriter bounds them, and big replies counted in budget under
// key (nil: not counted), except for the console's websocket
// (websocket: it must hijack w, and its writer sets a deadline of its
// own for each message). Whatever an earlier request on the connection
// left as its write deadline goes: net/http sets none itself (the
// servers have no WriteTimeout, which would also bound waited commands
// and streams). The caller calls end once the handler has returned.
func boundedReplies(w http.ResponseWriter, wait time.Duration, websocket bool, budget *ReplyBudget, key string) (_ http.ResponseWriter, end func()) {
	rc := http.NewResponseController(w)
	if websocket {
		_ = rc.SetWriteDeadline(time.Time{})
		return w, func() {}
	}
	_ = rc.SetWriteDeadline(time.Now().Add(wait))
	p := &progressWriter{ResponseWriter: w, rc: rc, wait: wait, budget: budget, key: key}
	return p, p.done
}

// replyKey sets whose w's big replies count as, once the caller is
// known: "token NAME" (its file, or web.token).
func replyKey(w http.ResponseWriter, tokName string) {
	if p, ok := w.(*progressWriter); ok && tokName != "" {
		p.key = "token " + tokName
	}
}

// uncounted makes w's replies count for nothing: a stream's, bounded by
// the streams' own bound (streamcap.go).
func uncounted(w http.ResponseWriter) {
	if p, ok := w.(*progressWriter); ok {
		if p.status != 0 && !p.sent {
			p.sendStatus()
		}
		p.budget = nil
	}
}
