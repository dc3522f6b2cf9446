package arbiter

import (
	"encoding/json"
	"math"
	"os"
	"testing"
	"time"

	"github.com/poold/poold/arbiter/upgrade"
	"github.com/poold/poold/configs"
)

// poold's start time in dstats (create_time) is the kernel's boot time
// plus the process's start in ticks after boot; the boot time as /proc
// gives it moves each time the wall clock is stepped (an NTP sync after
// boot). An upgraded image read it again, so a step between start and
// upgrade moved poold's start time, and clients that tell an upgrade from
// a restart by pid and start time (poolctl events, the fleet view) took
// the upgrade for a restart and replayed the whole history again. The
// new image keeps the boot time the old one counted from.
func TestUpgradeKeepsTheBootTimeStartTimesCountFrom(t *testing.T) {
	old := start(t, &configs.Config{}, Options{})
	st := onLoop(t, old.a, func() any { return old.a.state(time.Now()) }).(*upgrade.State)
	real, err := old.a.opts.Stats.BootTime()
	if err != nil || st.BootTime != real || real == 0 {
		t.Fatalf("handed over boot time %v, the sampler's %v (%v)", st.BootTime, real, err)
	}
	before := createTime(t, old)

	// The clock stepped 30 s back meanwhile: /proc now gives a boot time
	// 30 s earlier, and the old image's boot time is 30 s later than it.
	stepped := &upgrade.State{Version: upgrade.Version, Config: &configs.Config{}, BootTime: real + 30}
	next := start(t, &configs.Config{}, Options{Adopt: stepped})
	if got, want := createTime(t, next), before+30; math.Abs(got-want) > 0.011 {
		t.Fatalf("after the upgrade poold's create_time is %.2f; want %.2f, counted from the boot time handed over", got, want)
	}
}

func createTime(t *testing.T, h *harness) float64 {
	t.Helper()
	raw, _ := json.Marshal(h.do("dstats", nil)["info"])
	var info struct {
		Pid        int     `json:"pid"`
		CreateTime float64 `json:"create_time"`
	}
	if err := json.Unmarshal(raw, &info); err != nil || info.CreateTime == 0 || info.Pid != os.Getpid() {
		t.Fatalf("dstats: %s (%v)", raw, err)
	}
	return info.CreateTime
}
