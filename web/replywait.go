package web

import (
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
// its bytes for good, and a request is never evicted to make room.

// replyPart is the most of a reply written under one deadline: a client
// must take this much within writeWait to be kept.
const replyPart = 64 << 10

// progressWriter is a ResponseWriter whose every part of at most
// replyPart has wait to be written.
type progressWriter struct {
	http.ResponseWriter
	rc   *http.ResponseController
	wait time.Duration
}

func (p *progressWriter) Write(b []byte) (int, error) {
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

// Unwrap lets http.ResponseController (Flush, deadlines) reach the
// connection's writer.
func (p *progressWriter) Unwrap() http.ResponseWriter { return p.ResponseWriter }

// boundedReplies returns w for a handler: with writes bounded, as
// progressWriter bounds them, except for the console's websocket
// (websocket: it must hijack w, and its writer sets a deadline of its
// own for each message). Whatever an earlier request on the connection
// left as its write deadline goes: net/http sets none itself (the
// servers have no WriteTimeout, which would also bound waited commands
// and streams).
func boundedReplies(w http.ResponseWriter, wait time.Duration, websocket bool) http.ResponseWriter {
	rc := http.NewResponseController(w)
	if websocket {
		_ = rc.SetWriteDeadline(time.Time{})
		return w
	}
	_ = rc.SetWriteDeadline(time.Now().Add(wait))
	return &progressWriter{ResponseWriter: w, rc: rc, wait: wait}
}
