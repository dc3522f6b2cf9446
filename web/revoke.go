package web

import (
	"context"
	"errors"
	"net/http"

	"github.com/poold/poold/arbiter"
)

// untilRevoked returns r with a context that also ends when a reload
// takes tok away (it matches no token any more), or an upgrade's
// hand-over begins (cause errHandingOver: the stream ends cleanly, after
// what it has queued, and its client reconnects), or evicted is closed
// (cause errEvicted: streamcap.go), and a stop that ends
// the watch and waits for it. A stream admitted under acc (GET
// /api/v1/events, Options.Streams) would otherwise go on serving a token
// an operator revoked for as long as its client stays connected. A
// reload that keeps tok (another token rotated, the console's settings
// changed) leaves the stream alone.
func (s *Server) untilRevoked(r *http.Request, acc *access, tok string, evicted <-chan struct{}) (*http.Request, func()) {
	ctx, cancel := context.WithCancelCause(r.Context())
	done := make(chan struct{})
	handover := s.streams.done()
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-handover:
				cancel(errHandingOver)
				return
			case <-evicted:
				cancel(errEvicted)
				return
			case <-acc.revoked:
				// Reconfigure stores the new access before it closes the
				// old one's revoked: this is at least that new one.
				acc = s.access.Load()
				if role, _ := roleOf(acc.tokens, tok); role == arbiter.RoleNone {
					s.log.Info("api stream closed: its token was revoked by a reload", "remote", r.RemoteAddr, "path", r.URL.Path)
					cancel(errRevoked)
					return
				}
			}
		}
	}()
	return r.WithContext(ctx), func() { cancel(nil); <-done }
}

// errRevoked is the cause of a stream's end when a reload revoked its
// token (context.Cause): it gets nothing more, not even what was queued.
var errRevoked = errors.New("its token was revoked by a reload")

// errEvicted is the cause of a stream's end when it was closed to make
// room for another token's (streamcap.go).
var errEvicted = errors.New("closed to make room for another token's stream: this token holds the most streams")
