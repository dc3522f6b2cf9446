package controller_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/poold/poold/arbiter"
)

// Refused requests are logged once a minute per uid, not once each: a
// read-only user repeating an operator command on one connection wrote
// a WARN line per request (121 lines in a few seconds; a refused uid in a
// loop, 5,000 a second).
func TestRefusalsLoggedOncePerUID(t *testing.T) {
	needRoot(t)
	log := &lockedBuffer{}
	s := wideACL(t, "refuselog", log)
	ro := completedAsUID(t, 1, 65534, s.ep[len("ipc://"):])[0]
	const n = 50
	for i := range n {
		r := askDealer(t, ro, fmt.Sprintf(`{"id":"r%d","command":"incr","properties":{"name":"w"}}`, i))
		if r["errno"] != float64(arbiter.ErrnoForbidden) {
			t.Fatalf("read-only incr %d: %v, want errno %d", i, r, arbiter.ErrnoForbidden)
		}
	}
	if c := strings.Count(log.String(), "control request refused"); c != 1 {
		t.Errorf("%d log lines for %d refusals of one uid, want 1 a minute:\n%s", c, n, log)
	}
	if !strings.Contains(log.String(), "uid=65534") {
		t.Errorf("the refusal's line does not name the uid:\n%s", log)
	}
}
