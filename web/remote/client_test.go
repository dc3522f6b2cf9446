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
