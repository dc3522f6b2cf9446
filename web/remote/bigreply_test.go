package remote

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/arbiter"
)

// TestReplyOverMaxReply: a wrong or hostile host that answers a command
// with an endless body made the client read 256 MiB, at every refresh of
// the console's fleet view, before it said "not a poold reply". A client
// with MaxReply (the fleet's) stops there and says so.
func TestReplyOverMaxReply(t *testing.T) {
	const sent = 64 << 20
	url, written := endlessServer(t, "application/json", `{"status":"ok","info":"`, sent)
	c, err := New(Options{URL: url, Token: "0123456789abcdef", MaxReply: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, err = c.Do(ctx, arbiter.Request{Command: "status"})
	want := "with more than 1 MiB, far beyond this command's reply: is this the [web] address of a poold?"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Do of a %d MiB reply with MaxReply 1 MiB: %v; want an error saying %q", sent>>20, err, want)
	}
	c.Close() // drop the connection the reply came on
	select {
	case n := <-written:
		if n >= sent {
			t.Errorf("the client took all %d MiB of the reply", n>>20)
		}
	case <-ctx.Done():
		t.Fatal("the server's write never ended after the client gave up")
	}
}
