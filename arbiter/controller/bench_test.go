package controller_test

import (
	"context"
	"testing"
)

// echoRaw is the trivial handler: the request is its own reply (it carries
// the id the client matches on).
func echoRaw(_ context.Context, raw []byte) ([]byte, bool) { return raw, true }

func benchRoundTrip(b *testing.B, ep string) {
	s := serve(b, ep, echoRaw, nil)
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

func BenchmarkRoundTripIPC(b *testing.B) { benchRoundTrip(b, ipcEndpoint(b)) }
func BenchmarkRoundTripTCP(b *testing.B) { benchRoundTrip(b, "tcp://127.0.0.1:0") }
