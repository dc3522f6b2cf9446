package remote

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// followServer is a poold as a Follower sees it: dstats names one
// incarnation, and stream answers the n-th opening of the event stream
// (from 1). It returns a client of it and the count of openings.
func followServer(t *testing.T, stream func(n int32, w http.ResponseWriter, r *http.Request)) (*Client, *atomic.Int32) {
	t.Helper()
	opened := new(atomic.Int32)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v1/dstats":
			w.Write([]byte(`{"status":"ok","info":{"pid":7,"create_time":1700000000.5}}`))
		case "/api/v1/events":
			stream(opened.Add(1), w, r)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	c, err := New(Options{URL: srv.URL, Token: "0123456789abcdef"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, opened
}

// spawnEvent writes one server-sent event with seq id.
func spawnEvent(w http.ResponseWriter, id string) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Write([]byte("id: " + id + "\ndata: {\"topic\":\"watcher.web.spawn\",\"event\":{}}\n\n"))
	w.(http.Flusher).Flush()
}
