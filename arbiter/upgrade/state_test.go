package upgrade

import (
	"strings"
	"testing"
)

// A state of format 1 (written by a poold that bound its endpoints again)
// is still read: it names no listeners of poold's own.
func TestDecodeReadsFormat1(t *testing.T) {
	st, err := Decode(strings.NewReader(`{"version": 1, "config": {}}`))
	if err != nil {
		t.Fatalf("format 1: %v", err)
	}
	if len(st.Transports) != 0 {
		t.Errorf("transports %v, want none", st.Transports)
	}
	if _, err := Decode(strings.NewReader(`{"version": 3, "config": {}}`)); err == nil || !strings.Contains(err.Error(), "state format 3") {
		t.Errorf("format 3: %v, want refused", err)
	}
}
