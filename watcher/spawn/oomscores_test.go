package spawn

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// poold --check asks the kernel whether poold could lower its own
// oom_score_adj (a Burstable pod's 985) and puts it back: it reports the
// value poold would have, and leaves its own as it was.
func TestReadOOMScoresPutsBackWithoutKeep(t *testing.T) {
	orig, err := readOOMScoreAdj()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(oomScoreAdjFile, []byte("985"), 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.WriteFile(oomScoreAdjFile, []byte(strconv.Itoa(orig)), 0) })
	sc, err := ReadOOMScores(500, false)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(oomScoreAdjFile)
	if got := strings.TrimSpace(string(b)); got != "985" {
		t.Errorf("oom_score_adj is %s after ReadOOMScores without keep, want 985 put back", got)
	}
	switch {
	case sc.Lowered && (sc.Own != 500 || sc.Workers != 1000 || sc.LoweredFrom != 985):
		t.Errorf("lowered: %+v, want Own 500, Workers 1000, LoweredFrom 985", sc)
	case !sc.Lowered && (sc.Own != 985 || sc.Workers != 1000 || sc.LowerErr == nil):
		t.Errorf("not lowered: %+v, want Own 985, Workers 1000 and why", sc)
	}
}
