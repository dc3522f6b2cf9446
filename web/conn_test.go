package web

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/configs"
)

// waitFor checks cond until it holds; the deadline only catches a hang.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// TestWaitedActionDoesNotHoldUpOthers: while a waited reloadconfig waits,
// the same console's status and stop are answered; closing the console
// ends the waiting action rather than leaving it behind.
func TestWaitedActionDoesNotHoldUpOthers(t *testing.T) {
	t.Parallel()
	fake := newFakeBackend(t, map[string]int{"web": 1, "worker": 1})
	fake.waitedTakes = time.Hour
	ts := startServer(t, fake, configs.Web{}, nil)
	c := dialConsole(t, ts)
	c.next("hello", typeIs("hello"))

	c.send("rc", "reloadconfig", map[string]any{"waiting": true})
	waitFor(t, "the reloadconfig to wait", func() bool { return fake.waitingNow.Load() == 1 })
	c.send("st", "status", map[string]any{"name": "web"})
	c.send("stop", "stop", map[string]any{"name": "worker"})
	// Each is answered on its own, in either order, before the reload ends.
	for got := map[any]bool{}; len(got) < 2; {
		m := c.next("the replies to status and stop", typeIs("reply"))
		if id := m["id"]; id != "st" && id != "stop" {
			t.Fatalf("got the reply to %v before those to status and stop: %v", id, m)
		}
		got[m["id"]] = true
		if r := m["reply"].(map[string]any); r["status"] == "error" {
			t.Errorf("%v failed while a reloadconfig waited: %v", m["id"], r)
		}
	}
	if n := fake.waitingNow.Load(); n != 1 {
		t.Fatalf("the reloadconfig should still wait; %d commands wait", n)
	}
	c.c.Close()
	waitFor(t, "the closed console's waiting reloadconfig to end", func() bool { return fake.waitingNow.Load() == 0 })
	waitFor(t, "the closed console to leave", func() bool { return ts.consoles() == 0 })
}

// TestActionsInFlightAreBounded: one console cannot start actions without
// bound; the one beyond the limit is refused at once and says why.
func TestActionsInFlightAreBounded(t *testing.T) {
	fake := newFakeBackend(t, map[string]int{"web": 1})
	fake.waitedTakes = time.Hour
	ts := startServer(t, fake, configs.Web{}, func(tu *tunings) { tu.actionsInFlight = 2 })
	c := dialConsole(t, ts)
	c.next("hello", typeIs("hello"))

	for i := range 2 {
		c.send(fmt.Sprint("rc", i), "reloadconfig", map[string]any{"waiting": true})
	}
	waitFor(t, "two reloadconfigs to wait", func() bool { return fake.waitingNow.Load() == 2 })
	c.send("over", "status", map[string]any{"name": "web"})
	r := c.reply("over")
	if r["status"] != "error" || !strings.Contains(r["reason"].(string), "already has 2 actions running") {
		t.Errorf("a third action while 2 run: %v, want it refused saying the console already has 2 running", r)
	}
	if n := fake.waitingNow.Load(); n != 2 {
		t.Errorf("%d commands wait, want 2", n)
	}
}

// A command poold's loop never took before the console stopped waiting
// is not run, and poold says so (not_run): the console passes that on,
// not "still running in poold" (r52b-ctl).
func TestActionNotRunSaysNotRun(t *testing.T) {
	t.Parallel()
	fake := newFakeBackend(t, map[string]int{"web": 1})
	fake.callTakes, fake.dropsGivenUp = time.Hour, true
	ts := startServer(t, fake, configs.Web{}, func(tu *tunings) { tu.actionTO = 200 * time.Millisecond })
	c := dialConsole(t, ts)
	c.send("i", "incr", map[string]any{"name": "web"})
	r := c.reply("i")
	if reason, _ := r["reason"].(string); !strings.Contains(reason, "not run") || strings.Contains(reason, "still running") {
		t.Errorf("reply %v: want it to say that incr was not run", r)
	}
}

// TestActionTimeoutSaysWhatHappened: a waited action the console stops
// waiting for says that it goes on in poold and where to follow it, not
// a Go error.
func TestActionTimeoutSaysWhatHappened(t *testing.T) {
	t.Parallel()
	fake := newFakeBackend(t, map[string]int{"web": 1})
	fake.waitedTakes = time.Hour
	ts := startServer(t, fake, configs.Web{}, func(tu *tunings) { tu.actionTO = 200 * time.Millisecond })
	c := dialConsole(t, ts)
	c.next("hello", typeIs("hello"))

	c.send("rc", "reloadconfig", map[string]any{"waiting": true})
	r := c.reply("rc")
	reason, _ := r["reason"].(string)
	for _, want := range []string{"reloadconfig is still running in poold", "stopped waiting for its outcome after 0.2 s", "did not cancel it", "event log", "config reloaded"} {
		if !strings.Contains(reason, want) {
			t.Errorf("reason %q: want it to say %q", reason, want)
		}
	}
	if strings.Contains(reason, "deadline") || r["status"] != "error" {
		t.Errorf("reply %v: want an error that does not speak of deadlines", r)
	}
}

// TestUnknownCommandIsCalledUnknown: a command poold does not have is
// called unknown, with the console's commands; one that poold has but
// the console does not offer says to use poolctl.
func TestUnknownCommandIsCalledUnknown(t *testing.T) {
	t.Parallel()
	ts := startServer(t, newFakeBackend(t, map[string]int{"web": 1}), configs.Web{}, nil)
	c := dialConsole(t, ts)
	c.next("hello", typeIs("hello"))
	c.send("u", "nosuch", nil)
	if r, _ := c.reply("u")["reason"].(string); !strings.Contains(r, `unknown command "nosuch"`) ||
		!strings.Contains(r, "accepts: ") || !strings.Contains(r, "reloadconfig, restart") || strings.Contains(r, "poolctl") {
		t.Errorf("reason for nosuch: %q, want it called unknown, listing the console's commands", r)
	}
	c.send("q", "quit", nil)
	if r, _ := c.reply("q")["reason"].(string); r != `command "quit" is not available from the web console; use poolctl` {
		t.Errorf("reason for quit: %q, want it sent to poolctl", r)
	}
}
