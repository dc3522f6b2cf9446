package controller_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/poold/poold/arbiter"
)

// Malformed multipart requests get an error reply routed by their
// envelope, in order with the others; they used to get none, and the
// client waited for its timeout. [hop, "", request] is a REQ request
// through a proxy: served, with the envelope echoed, as a REP socket does.
func TestMalformedRequestsAnswered(t *testing.T) {
	s := serve(t, "tcp://127.0.0.1:0", newEcho().handle, nil)
	p := rawPeer(t, s, "DEALER", 0)
	for _, tc := range []struct {
		frames [][]byte
		want   []string // reply frames before the JSON reply
		id     any      // as sent; nil: none (null)
		reason string
	}{
		{[][]byte{[]byte(`{"id":"bad1","command":"status"}`), []byte("extra")}, nil, "bad1", "malformed request: 2 frames after the routing envelope (of 32, 5 bytes), want one"},
		{[][]byte{[]byte("x"), []byte(`{"id":"bad2","command":"status"}`)}, nil, "bad2", "2 frames after the routing envelope"},
		{[][]byte{nil, nil, []byte(`{"id":"bad3","command":"status"}`)}, []string{""}, "bad3", "2 frames after the routing envelope"},
		{[][]byte{[]byte("a"), []byte("b"), []byte("c"), []byte(`{"id":"bad4","command":"x"}`)}, nil, "bad4", "4 frames after the routing envelope"},
		{[][]byte{[]byte(`{"id":9,"command":"status"}`), []byte("extra")}, nil, 9.0, "2 frames after the routing envelope"},
		{[][]byte{[]byte("hop"), nil}, []string{"hop", ""}, nil, "no request frame after the empty delimiter frame"},
		{[][]byte{[]byte("hop"), nil, []byte(`{"id":"routed","command":"status"}`)}, []string{"hop", ""}, "routed", ""},
		{[][]byte{[]byte(`{"id":"good","command":"status"}`)}, nil, "good", ""},
	} {
		if err := p.Send(tc.frames...); err != nil {
			t.Fatal(err)
		}
		msg := recvTimeout(t, p)
		if len(msg) != len(tc.want)+1 {
			t.Fatalf("%q: reply %q, want %d frames", tc.frames, msg, len(tc.want)+1)
		}
		for i, w := range tc.want {
			if string(msg[i]) != w {
				t.Errorf("%q: reply envelope %q, want %q", tc.frames, msg[:len(tc.want)], tc.want)
			}
		}
		var r map[string]any
		_ = json.Unmarshal(msg[len(tc.want)], &r)
		if tc.reason == "" {
			if r["status"] != "ok" || r["id"] != tc.id {
				t.Errorf("%q: reply %v, want ok with id %#v", tc.frames, r, tc.id)
			}
			continue
		}
		if id, has := r["id"]; r["status"] != "error" || r["errno"] != float64(arbiter.ErrnoBadJSON) || !has || id != tc.id ||
			!strings.Contains(fmt.Sprint(r["reason"]), tc.reason) || !strings.Contains(fmt.Sprint(r["reason"]), "send the JSON request as one frame") {
			t.Errorf("%q: reply %v, want errno 1 with id %#v saying %q and what to send", tc.frames, r, tc.id, tc.reason)
		}
	}
	// A malformed cast gets no reply, like any cast.
	if err := p.Send([]byte(`{"id":"c","command":"incr","msg_type":"cast"}`), []byte("extra")); err != nil {
		t.Fatal(err)
	}
	if err := p.Send([]byte(`{"id":"after","command":"status"}`)); err != nil {
		t.Fatal(err)
	}
	if msg := recvTimeout(t, p); !strings.Contains(string(msg[0]), `"id":"after"`) {
		t.Errorf("after a malformed cast: %q, want only the next reply", msg)
	}
}
