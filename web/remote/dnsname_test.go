package remote

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strings"
	"testing"
)

// A host name that does not resolve (a typo in a hosts file, a name of
// another network) is said so, with the name and what to check, rather
// than as Go's `Get "https://...": dial tcp: lookup ...` chain. The
// error is built by hand: a real lookup of a missing name would ask the
// machine's DNS server, off loopback.
func TestUnresolvedHostNameSaysSo(t *testing.T) {
	c, err := New(Options{URL: "https://poold-typo.invalid:8443", Token: "0123456789abcdef"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	dns := &net.DNSError{Err: "no such host", Name: "poold-typo.invalid", IsNotFound: true}
	got := c.netError(context.Background(), &url.Error{Op: "Post", URL: "https://poold-typo.invalid:8443/api/v1/status",
		Err: &net.OpError{Op: "dial", Net: "tcp", Err: dns}})
	want := `poold unreachable at https://poold-typo.invalid:8443: cannot look up the host name "poold-typo.invalid": no such host; check the URL's host`
	if !errors.Is(got, ErrUnreachable) || !strings.HasPrefix(got.Error(), want) {
		t.Errorf("got %v\nwant unreachable starting %q", got, want)
	}
}
