package remote

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestStreamRefusesAnEndlessEvent: a server at a fleet host's URL that
// answers the event stream with one line that never ends (not a poold,
// or a hostile one) made the reader buffer all of it: poolctl events
// grew by 60 MB a second, and so would a poold whose console followed
// that host. An event over maxEvent now ends the stream, saying so.
func TestStreamRefusesAnEndlessEvent(t *testing.T) {
	const sent = 64 << 20
	url, written := endlessServer(t, "text/event-stream", "data: ", sent)
	c, err := New(Options{URL: url, Token: "0123456789abcdef"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := c.Events(ctx, nil, -1)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Recv(ctx)
	s.Close()
	want := "an event over 8 MiB, far beyond any poold sends: is " + c.host + " the [web] address of a poold?"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Recv of a %d MiB line: %v; want an error saying %q", sent>>20, err, want)
	}
	select {
	case n := <-written:
		if n >= sent {
			t.Errorf("the reader took all %d MiB before giving up", n>>20)
		}
	case <-ctx.Done():
		t.Fatal("the server's write never ended after the reader closed the stream")
	}
}

// endlessServer answers every request with prefix and then 1 MiB chunks
// of "A" up to sent bytes, a body with no end in sight; written gets how
// much it wrote before the client hung up (or sent).
func endlessServer(t *testing.T, contentType, prefix string, sent int) (url string, written <-chan int) {
	t.Helper()
	out := make(chan int, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		n, _ := w.Write([]byte(prefix))
		chunk := []byte(strings.Repeat("A", 1<<20))
		for n < sent {
			m, err := w.Write(chunk)
			n += m
			if err != nil {
				break
			}
		}
		select {
		case out <- n:
		default:
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL, out
}
