package remote

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/poold/poold/arbiter"
)

// TestNotAPIIsUnreachable: an address that answers but is not a poold API
// (http:// to an HTTPS listener, some other web server) is reported as
// never reached, with what to do, not as a connection lost mid-call.
func TestNotAPIIsUnreachable(t *testing.T) {
	tlsSrv := httptest.NewTLSServer(http.NotFoundHandler())
	defer tlsSrv.Close()
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("<html>hello</html>"))
	}))
	defer other.Close()
	for _, tc := range []struct{ url, want string }{
		{strings.Replace(tlsSrv.URL, "https://", "http://", 1), "the server speaks HTTPS: use " + tlsSrv.URL},
		{other.URL, "not a poold reply"},
	} {
		c, err := New(Options{URL: tc.url, Token: "0123456789abcdef"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Do(context.Background(), arbiter.Request{Command: "status"})
		c.Close()
		if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want unreachable saying %q", tc.url, err, tc.want)
		}
	}
}

// TestPlainHTTPOnlyToLoopback: poolctl --url http://HOST with a remote
// HOST sent the bearer token in clear (a typo of https, or a proxy
// answering there), though poold never serves its API beyond loopback
// without TLS. Such a URL is now refused before anything is sent.
func TestPlainHTTPOnlyToLoopback(t *testing.T) {
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{"http://127.0.0.1:8080", true},
		{"http://localhost:8080", true},
		{"http://[::1]:8080", true},
		{"https://192.0.2.10:8443", true},
		{"http://192.0.2.10:8080", false},
		{"http://poold.example.com:8080", false},
	} {
		c, err := New(Options{URL: tc.url, Token: "0123456789abcdef"})
		switch {
		case tc.ok && err != nil:
			t.Errorf("%s: %v, want accepted", tc.url, err)
		case !tc.ok && (err == nil || !strings.Contains(err.Error(), "would send the token in clear")):
			t.Errorf("%s: %v, want refused saying the token would go in clear", tc.url, err)
		}
		if c != nil {
			c.Close()
		}
	}
}
