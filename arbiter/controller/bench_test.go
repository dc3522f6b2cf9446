package controller_test

import (
	"context"
	"testing"

	"github.com/poold/poold/arbiter/controller"
)

// echoRaw is the trivial handler: the request is its own reply (it carries
// the id the client matches on).
func echoRaw(_ context.Context, raw []byte) ([]byte, bool) { return raw, true }

func benchRoundTrip(b *testing.B, ep string, tune func(*controller.Controller)) {
	s := serve(b, ep, echoRaw, tune)
	cl := dial(b, s.ep)
	req := []byte(`{"id":"bench","command":"status","properties":{}}`)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := cl.Call(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRoundTripIPC(b *testing.B) { benchRoundTrip(b, ipcEndpoint(b), nil) }
func BenchmarkRoundTripTCP(b *testing.B) { benchRoundTrip(b, "tcp://127.0.0.1:0", nil) }

// BenchmarkRoundTripIPCPeerCred adds the SO_PEERCRED check (as poold
// runs it: an ACL on the ipc endpoint).
func BenchmarkRoundTripIPCPeerCred(b *testing.B) {
	acl, err := controller.NewACL(nil, []string{"user:nobody"})
	if err != nil {
		b.Fatal(err)
	}
	benchRoundTrip(b, ipcEndpoint(b), func(c *controller.Controller) { c.SetACL(acl) })
}
