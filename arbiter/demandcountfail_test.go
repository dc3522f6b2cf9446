package arbiter

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
)

// TestConnsCountThatFailsIsLogged: a count of a pool's open connections
// that failed gave -1, unknown, silently, and an unknown count lets a
// queue that stays grow the pool as if no worker were idle; a growth on a
// queue of one then could not be told apart, from the log, from one with
// every worker holding a connection (arbiter TestIdleWorkersDoNotGrowThePool
// in whole-package runs). The monitor now warns, naming the sockets and the
// error, once when counting starts to fail and says once when it works
// again.
func TestConnsCountThatFailsIsLogged(t *testing.T) {
	buf := &syncBuffer{}
	mon, err := newDemandMon(hclog.New(&hclog.LoggerOptions{Output: buf, Level: hclog.Debug}), func(any) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(mon.epfd); unix.Close(mon.evfd) })
	// A pipe: getsockname refuses it, as any count would fail.
	r, wr, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer wr.Close()
	_, good := listenerFD(t)
	defer unix.Close(good)
	w := warmWatch(1, int(r.Fd()), time.Second) // idle_timeout: counted every reading
	plan := []demandWatch{w}
	paces, counts, armed := map[uint64]*pace{}, map[uint64]connCount{}, map[int]bool{}
	now := time.Now()
	syncPaces(paces, plan, now)
	read := func(n int) {
		for range n {
			now = now.Add(demandSample)
			mon.readDue(plan, paces, counts, armed, now)
		}
	}
	read(5)
	log := buf.String()
	if n := strings.Count(log, "cannot count the connections"); n != 1 || !strings.Contains(log, "sockets=front") || !strings.Contains(log, "getsockname") {
		t.Fatalf("5 readings whose counts failed logged %d warnings, want 1 naming the socket and the error:\n%s", n, log)
	}
	plan[0].fds = []int{good}
	read(5)
	log = buf.String()
	if n := strings.Count(log, "works again"); n != 1 || strings.Count(log, "cannot count the connections") != 1 {
		t.Fatalf("5 readings whose counts worked again: want one line saying so and no more warnings:\n%s", log)
	}
}
