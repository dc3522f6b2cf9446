package arbiter

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/poold/poold/watcher/proctest"
	"golang.org/x/sys/unix"
)

// A pool read at its quiet pace whose plan then has none (a reload or
// `set` makes scale_down_cooldown or idle_timeout 3.2 s or less, or sets
// scale_busy_target) is read every demandSample again, not one reading
// after another: the monitor spun at 18 % of a core (r54b-rvelastic).
func TestQuietPoolWhosePaceEndsIsNotReadInALoop(t *testing.T) {
	_, fast := listenerFD(t)
	_, qfd := listenerFD(t)
	dup := func(fd int) int {
		n, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	log := &paceLog{n: map[uint64]int{}, last: map[uint64]demandReading{}}
	mon, err := newDemandMon(hclog.NewNullLogger(), log.post)
	if err != nil {
		t.Fatal(err)
	}
	mon.setPlan([]demandWatch{warmWatch(1, dup(fast), 0), quietWatch(2, dup(qfd), 300*time.Millisecond)})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); mon.run(ctx) }()
	defer func() { cancel(); mon.wake(); wg.Wait() }()
	proctest.Eventually(t, "20 readings of the fast pool", func() bool { n, _ := log.get(1); return n >= 20 })
	if n, _ := log.get(2); n > 19 {
		t.Fatalf("not quiet: %d readings", n)
	}

	mon.setPlan([]demandWatch{warmWatch(1, dup(fast), 0), quietWatch(2, dup(qfd), 0)})
	f0, _ := log.get(1)
	n0, _ := log.get(2)
	proctest.Eventually(t, "10 more readings of the fast pool", func() bool { n, _ := log.get(1); return n >= f0+10 })
	f1, _ := log.get(1)
	n1, _ := log.get(2)
	if n1-n0 > 2*(f1-f0)+5 {
		t.Fatalf("pool whose quiet pace ended was read %d times while the fast pool was read %d times", n1-n0, f1-f0)
	}
}
