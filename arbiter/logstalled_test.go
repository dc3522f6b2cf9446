package arbiter

import (
	"fmt"
	"testing"
	"time"

	"github.com/poold/poold/arbiter/logsink"
)

// TestLogStalledIsWholeMilliseconds: dstats' log_stalled is seconds to
// the millisecond, with no float artefact (5.8100000000000005).
func TestLogStalledIsWholeMilliseconds(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{
		{5810*time.Millisecond + 300*time.Microsecond, "5.81"},
		{100 * time.Millisecond, "0.1"},
		{1234567 * time.Microsecond, "1.235"},
		{0, "0"},
	} {
		got := logStatsOf(logsink.Stats{Stalled: tt.d})["log_stalled"]
		if s := fmt.Sprint(got); s != tt.want {
			t.Errorf("log_stalled for %v = %s, want %s", tt.d, s, tt.want)
		}
	}
}
