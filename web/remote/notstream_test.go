package remote

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestStreamRefusedByWhatIsNotPoold: the console's fleet view opens a
// host's event stream first, and showed what answered there as it came
// ("400 Bad Request: \"Client sent an HTTP request to an HTTPS
// server.\"", or a web server's 404 page) without saying what to do,
// where poolctl, asking a command first, said "use https://" or "is this
// the [web] address of a poold?". The stream now says it too.
func TestStreamRefusedByWhatIsNotPoold(t *testing.T) {
	tlsSrv := httptest.NewTLSServer(http.NotFoundHandler())
	defer tlsSrv.Close()
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte("<html><body><h1>404 File not found</h1></body></html>"))
	}))
	defer web.Close()
	for _, tc := range []struct{ url, want string }{
		{"http://" + strings.TrimPrefix(tlsSrv.URL, "https://"), "the server speaks HTTPS: use " + tlsSrv.URL},
		{web.URL, "not a poold reply; is this the [web] address of a poold?"},
	} {
		c, err := New(Options{URL: tc.url, Token: "0123456789abcdef"})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err = c.Events(ctx, nil, -1)
		cancel()
		c.Close()
		var se *StatusError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Events = %v; want a *StatusError saying %q", tc.url, err, tc.want)
		}
	}
}
