package sdnotify

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"go.uber.org/goleak"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher"
	"github.com/poold/poold/watcher/proctest"
	"github.com/poold/poold/watcher/workertest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const hang = 30 * time.Second

// snap is a snapshot of one autostart watcher with ready of target
// workers ready, the others started 2.5 s before it was taken.
func snap(ready, target int) arbiter.Snapshot {
	w := arbiter.WatcherSnapshot{Name: "web", Status: watcher.Active, Target: target,
		Spec: configs.DefaultWatcher("web")}
	for i := range target {
		st := watcher.ProcStarting
		if i < ready {
			st = watcher.ProcReady
		}
		w.Processes = append(w.Processes, watcher.Process{Pid: 100 + i, Wid: i + 1, State: st, Started: snapTaken.Add(-2500 * time.Millisecond)})
	}
	return arbiter.Snapshot{Taken: snapTaken, Watchers: []arbiter.WatcherSnapshot{w}, Config: arbiter.ConfigState{LastReloadOK: true}}
}

// snapTaken is when snap's snapshots are taken.
var snapTaken = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// waits is what snap's first worker not ready, wid, waits for.
func waits(wid int) string {
	return fmt.Sprintf("; worker %d (pid %d) is not ready after 2s of ready_timeout 1m0s (readiness spawn)", wid, 99+wid)
}

func TestSummary(t *testing.T) {
	failed := snap(2, 2)
	failed.Config.LastReloadOK = false
	stopping := snap(1, 2)
	stopping.Stopping = true
	two := snap(3, 4)
	two.Watchers = append(two.Watchers, arbiter.WatcherSnapshot{Name: "api", Status: watcher.Failed, Reason: "exited with status 1",
		Target: 1, Spec: configs.Watcher{Name: "api", Autostart: true}})
	for _, tt := range []struct {
		s    arbiter.Snapshot
		want string
	}{
		{snap(2, 2), "1 watcher, 2/2 workers ready"},
		// r55 container review: and what the first worker not ready waits for.
		{snap(1, 3), `1 watcher, 1/3 workers ready; watcher "web" has 1 of 3 workers ready` + waits(2)},
		{two, `2 watchers, 3/5 workers ready; watcher "web" has 3 of 4 workers ready` + waits(4) + ` (+1 more)`},
		{failed, "1 watcher, 2/2 workers ready; last config reload failed (see the log)"},
		{stopping, "stopping: 2 workers left"},
	} {
		if got := Summary(tt.s); got != tt.want {
			t.Errorf("Summary = %q, want %q", got, tt.want)
		}
	}
}

// fake is the arbiter as the notifier sees it.
type fake struct {
	mu     sync.Mutex
	s      arbiter.Snapshot
	pingOK bool
	busy   bool      // with pingOK false: the loop works on, so Live is ErrBusy
	pinged chan bool // each Ping's outcome, when someone listens
}

func (f *fake) Snapshot(ctx context.Context) (arbiter.Snapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.s, nil
}

func (f *fake) Ping(ctx context.Context) error {
	f.mu.Lock()
	ok := f.pingOK
	f.mu.Unlock()
	select {
	case f.pinged <- ok:
	default:
	}
	if !ok {
		return context.DeadlineExceeded
	}
	return nil
}

func (f *fake) Live(ctx context.Context) error {
	err := f.Ping(ctx)
	f.mu.Lock()
	busy := f.busy
	f.mu.Unlock()
	if err != nil && busy {
		return arbiter.ErrBusy
	}
	return err
}

func (f *fake) set(fn func(*fake)) {
	f.mu.Lock()
	fn(f)
	f.mu.Unlock()
}

// listen is the service manager's socket.
func listen(t *testing.T) (string, *net.UnixConn) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return path, c
}

func read(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	buf := make([]byte, 4096)
	_ = c.SetReadDeadline(time.Now().Add(hang))
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("no message: %v", err)
	}
	return string(buf[:n])
}

// until reads messages until one has line; it returns them all.
func until(t *testing.T, c *net.UnixConn, line string) []string {
	t.Helper()
	var got []string
	for {
		m := read(t, c)
		got = append(got, m)
		for _, l := range strings.Split(m, "\n") {
			if l == line {
				return got
			}
		}
	}
}

// run starts n.Run and returns a stop that waits for it (also called at
// cleanup; more calls do nothing).
func run(t *testing.T, n *Notifier, src Source) func() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx, src) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run = %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func TestReadyReloadStop(t *testing.T) {
	path, c := listen(t)
	bus := events.NewBus(nil)
	src := &fake{s: snap(0, 2)}
	n := New(Options{Socket: path, Events: bus, StatusEvery: time.Millisecond})
	stop := run(t, n, src)

	if m := read(t, c); m != `STATUS=1 watcher, 0/2 workers ready; watcher "web" has 0 of 2 workers ready`+waits(1) {
		t.Fatalf("first message %q", m)
	}
	src.set(func(f *fake) { f.s = snap(2, 2) })
	bus.Publish("web", events.KindReady, nil)
	if got := until(t, c, "READY=1"); !strings.HasSuffix(got[len(got)-1], "STATUS=1 watcher, 2/2 workers ready") {
		t.Errorf("READY=1 came as %q", got)
	}

	// Two overlapping reloads: one READY=1 after both. Each has its
	// RELOADING=1, unless both began before Run looked (then one).
	n.ReloadBegan()
	n.ReloadBegan()
	m := read(t, c)
	if !strings.HasPrefix(m, "RELOADING=1\nMONOTONIC_USEC=") {
		t.Fatalf("after ReloadBegan: %q", m)
	}
	n.ReloadEnded(nil)
	n.ReloadEnded(errors.New("rolled back"))
	got := until(t, c, "READY=1")
	for _, m := range got[:len(got)-1] {
		if !strings.HasPrefix(m, "RELOADING=1\n") {
			t.Errorf("between RELOADING=1 and READY=1: %q", got)
		}
	}
	if len(got) > 2 {
		t.Errorf("between RELOADING=1 and READY=1: %q, want at most the second reload's RELOADING=1", got)
	}
	n.Stopping()
	if got := until(t, c, "STOPPING=1"); len(got) != 1 {
		t.Errorf("before STOPPING=1: %q", got)
	}
	stop()
}

// A stop told just before Run ends is still sent.
func TestStoppingAtTheEnd(t *testing.T) {
	path, c := listen(t)
	n := New(Options{Socket: path})
	n.Stopping()
	run(t, n, &fake{s: snap(1, 1)})()
	until(t, c, "STOPPING=1")
}

// WATCHDOG=1 only while the loop answers.
func TestWatchdog(t *testing.T) {
	path, c := listen(t)
	src := &fake{s: snap(1, 1), pingOK: true, pinged: make(chan bool)}
	n := New(Options{Socket: path, Watchdog: 40 * time.Millisecond})
	stop := run(t, n, src)
	until(t, c, "WATCHDOG=1")
	until(t, c, "WATCHDOG=1")
	src.set(func(f *fake) { f.pingOK = false })
	for ok := true; ok; {
		ok = <-src.pinged
	}
	drain(c)
	for range 3 {
		if <-src.pinged {
			t.Fatal("ping succeeded")
		}
	}
	if m := drain(c); strings.Contains(strings.Join(m, "\n"), "WATCHDOG=1") {
		t.Errorf("WATCHDOG=1 sent while the loop did not answer: %q", m)
	}
	stop()
}

// TestWatchdogWhileBusy: a loop too busy to answer in time, but working
// (a reload starting a thousand workers, one fork after another, for
// seconds), is alive: WATCHDOG=1 goes on, or systemd would kill poold,
// and every worker with it, in the middle of the reload.
func TestWatchdogWhileBusy(t *testing.T) {
	path, c := listen(t)
	src := &fake{s: snap(1, 1), busy: true}
	stop := run(t, New(Options{Socket: path, Watchdog: 40 * time.Millisecond}), src)
	until(t, c, "WATCHDOG=1")
	until(t, c, "WATCHDOG=1")
	stop()
}

// drain returns the messages waiting on c.
func drain(c *net.UnixConn) []string {
	var out []string
	buf := make([]byte, 4096)
	for {
		_ = c.SetReadDeadline(time.Now())
		n, err := c.Read(buf)
		if err != nil {
			return out
		}
		out = append(out, string(buf[:n]))
	}
}

// TestReadyIsSentAgainUntilItArrives: a READY=1 whose datagram failed (no
// socket yet; on systemd a full queue) was lost for good, yet poold
// logged that it had told the service manager, and a Type=notify unit
// stayed "activating". It is now tried again until it is sent, and the
// log says "told" only then.
func TestReadyIsSentAgainUntilItArrives(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify.sock")
	logs := &workertest.Buffer{}
	n := New(Options{Socket: path, Log: hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Debug})})
	run(t, n, &fake{s: snap(1, 1)})
	proctest.Eventually(t, "a failed READY=1 logged", func() bool { return strings.Contains(logs.String(), "cannot notify the service manager") })
	if strings.Contains(logs.String(), "told the service manager poold is ready") {
		t.Fatalf("poold says it told the service manager though the send failed:\n%s", logs.String())
	}
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	until(t, c, "READY=1")
	proctest.Eventually(t, "READY=1 logged as sent", func() bool {
		return strings.Contains(logs.String(), "told the service manager poold is ready")
	})
}

// TestReadyAfterAReloadIsSentAgain: the READY=1 that ends a reload is
// retried the same way when its send fails.
func TestReadyAfterAReloadIsSentAgain(t *testing.T) {
	path, c := listen(t)
	n := New(Options{Socket: path})
	src := &looking{fake: &fake{s: snap(1, 1)}, looks: make(chan struct{}, 16)}
	run(t, n, src)
	until(t, c, "READY=1")
	c.Close()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	for len(src.looks) > 0 {
		<-src.looks
	}
	n.ReloadBegan()
	n.ReloadEnded(nil)
	// The look before the reload's READY=1, which fails (no socket), and
	// the look of its next try.
	for i := 0; i < 2; i++ {
		select {
		case <-src.looks:
		case <-time.After(hang):
			t.Fatalf("no look %d at the arbiter after the reload: the failed READY=1 is not tried again", i+1)
		}
	}
	// A new socket, as a restarted service manager's.
	c2, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	until(t, c2, "READY=1")
}

// looking is a fake that tells each look at it.
type looking struct {
	*fake
	looks chan struct{}
}

func (l *looking) Snapshot(ctx context.Context) (arbiter.Snapshot, error) {
	select {
	case l.looks <- struct{}{}:
	default:
	}
	return l.fake.Snapshot(ctx)
}
