package controller_test

import (
	"context"
	"testing"
	"time"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/arbiter/controller/ctlclient"
	"github.com/poold/poold/watcher/proctest"
)

// TestHoldQuietOnceAnswered: a held endpoint (an upgrade's exec step) is
// not quiet while a request it took is unanswered, and is once the reply
// is written; a client dialling meanwhile is not accepted (it waits for
// the next image) until the hold is released.
func TestHoldQuietOnceAnswered(t *testing.T) {
	e := newEcho()
	s := serve(t, ipcEndpoint(t), e.handle, nil)
	cl := dial(t, s.ep)
	done := make(chan error, 1)
	go func() {
		_, err := cl.Do(context.Background(), arbiter.Request{Command: "block"})
		done <- err
	}()
	proctest.Eventually(t, "the request taken", func() bool { return e.blocked.Load() == 1 })

	quiet, release := s.Hold(false)
	dialed := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c, err := ctlclient.DialContext(ctx, s.ep)
		if err == nil {
			_, err = c.Do(ctx, arbiter.Request{Command: "status"})
			c.Close()
		}
		dialed <- err
	}()
	if quiet() {
		t.Fatal("held with a request unanswered: quiet, want not")
	}
	close(e.release)
	if err := <-done; err != nil {
		t.Fatalf("the blocked request: %v", err)
	}
	proctest.Eventually(t, "quiet once answered", quiet)
	select {
	case err := <-dialed:
		t.Fatalf("a client dialling a held endpoint was served (%v), want it to wait", err)
	default:
	}
	release()
	if err := <-dialed; err != nil {
		t.Fatalf("the client that waited, after release: %v", err)
	}
}
