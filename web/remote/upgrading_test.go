package remote

import (
	"context"
	"errors"
	"net/http"
	"testing"
)

// A stream poold ends for an in-place upgrade says so (its comment
// before the end), where one cut short is lost: poolctl then says that
// poold upgrades rather than that the stream was lost.
func TestStreamEndedForAnUpgradeSaysSo(t *testing.T) {
	for _, tc := range []struct {
		tail    string
		upgrade bool
	}{{": " + UpgradingComment + "\n\n", true}, {": ping\n\n", false}} {
		c, _ := followServer(t, func(_ int32, w http.ResponseWriter, r *http.Request) {
			spawnEvent(w, "1")
			w.Write([]byte(tc.tail))
		})
		s, err := c.Events(context.Background(), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Recv(context.Background()); err != nil {
			t.Fatalf("first event: %v", err)
		}
		_, err = s.Recv(context.Background())
		if errors.Is(err, ErrUpgrading) != tc.upgrade {
			t.Errorf("stream ending with %q: %v, want ErrUpgrading %v", tc.tail, err, tc.upgrade)
		}
		s.Close()
	}
}
