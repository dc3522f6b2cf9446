package arbiter

import (
	"encoding/json"
	"math"
	"testing"
)

// A reply that does not encode (a NaN figure) is answered errno 0, still
// with the id as sent.
func TestUnencodableReplyEchoesTheIDAsSent(t *testing.T) {
	for _, id := range []any{5.0, "abc", nil} {
		var r map[string]any
		if err := json.Unmarshal(encodeReply(Reply{"status": "ok", "cpu": math.NaN()}, id), &r); err != nil {
			t.Fatal(err)
		}
		if got, has := r["id"]; r["status"] != "error" || r["errno"] != 0.0 || !has || got != id {
			t.Errorf("id %#v: reply %v; want errno 0 with the id as sent", id, r)
		}
	}
}
