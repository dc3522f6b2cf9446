package web

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/poold/poold/configs"
)

// readSyncs reads a console's messages until n syncs came and returns
// their total size and how many of each type came.
func (w *wsClient) readSyncs(n int) (bytes int, types map[string]int) {
	w.t.Helper()
	types = map[string]int{}
	w.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	for types["sync"] < n {
		_, b, err := w.c.ReadMessage()
		if err != nil {
			w.t.Fatalf("reading the console after %d bytes, %v: %v", bytes, types, err)
		}
		var m struct {
			Type string `json:"type"`
		}
		json.Unmarshal(b, &m)
		bytes += len(b)
		types[m.Type]++
	}
	return bytes, types
}

// readTypes reads a console's messages for d and counts them by type.
// The console cannot be read after it (the deadline ends the connection).
func (w *wsClient) readTypes(d time.Duration) (bytes int, types map[string]int) {
	w.t.Helper()
	types = map[string]int{}
	w.c.SetReadDeadline(time.Now().Add(d))
	for {
		_, b, err := w.c.ReadMessage()
		if err != nil {
			return bytes, types // the deadline
		}
		var m struct {
			Type string `json:"type"`
		}
		json.Unmarshal(b, &m)
		bytes += len(b)
		types[m.Type]++
	}
}

// appliesSyncs tells the hub, as a page does once its hello came, that
// this console applies syncs: it gets them at a resync, not whole states.
func (w *wsClient) appliesSyncs() {
	w.t.Helper()
	w.send("applies-syncs", "console_sync", map[string]any{"names": []string{}})
	w.reply("applies-syncs")
}

// loadedState waits for the console's first full state (in its hello, or
// in the state that follows it) and returns its encoded size.
func (w *wsClient) loadedState() int {
	w.t.Helper()
	m := w.next("the loaded state", func(m map[string]any) bool {
		st, _ := m["state"].(map[string]any)
		return (m["type"] == "hello" || m["type"] == "state") && st["loaded"] == true
	})
	b, _ := json.Marshal(m["state"])
	return len(b)
}

// TestIdleResyncSendsOnlyWhatChanged: the periodic resync re-reads poold
// and used to send every console the whole state each time (1.5 MB every
// 15 s per console at 2,000 workers), though nothing had changed. Now a
// quiet poold costs a small sync per resync; a change no event announced
// still reaches the console, alone.
func TestIdleResyncSendsOnlyWhatChanged(t *testing.T) {
	spec := map[string]int{}
	for i := range 60 {
		spec[fmt.Sprintf("w%02d", i)] = 2
	}
	fake := newFakeBackend(t, spec)
	ts := startServer(t, fake, configs.Web{}, func(tu *tunings) { tu.resync = 200 * time.Millisecond })
	c := dialConsole(t, ts)
	full := c.loadedState()
	c.appliesSyncs()

	// Five resyncs of a poold where nothing changes: each used to send
	// the whole state.
	bytes, types := c.readSyncs(5)
	t.Logf("idle over 5 resyncs: %d bytes, %v; one full state is %d bytes", bytes, types, full)
	if bytes > full {
		t.Fatalf("an idle console got %d bytes over 5 resyncs (%v), more than a full state (%d bytes): the resync resends what did not change", bytes, types, full)
	}

	fake.mu.Lock()
	fake.watchers["w07"].status = "flapping" // and no event says so
	fake.mu.Unlock()
	m := c.next("w07 flapping in a sync", func(m map[string]any) bool {
		w := watcherIn(m, "w07")
		return m["type"] == "sync" && w != nil && w["status"] == "flapping"
	})
	if n := len(asSlice(m["watchers"])); n != 1 {
		t.Errorf("the sync after one watcher changed carries %d watchers, want 1", n)
	}
	if v, _ := m["versions"].(map[string]any); len(v) != len(spec) {
		t.Errorf("the sync lists %d watchers' versions, want %d", len(v), len(spec))
	}
}

// TestOlderPageGetsWholeStates: a page loaded from a poold older than
// syncs, left open across an upgrade to this one, ignores a sync: after a
// reload that removed a watcher and added one, it kept showing the old
// ones for good (r51b-console). A console that never asked for anything
// gets the whole state at a resync, as it did then; one that has asked
// gets syncs.
func TestOlderPageGetsWholeStates(t *testing.T) {
	fake := newFakeBackend(t, map[string]int{"web": 1})
	ts := startServer(t, fake, configs.Web{}, func(tu *tunings) { tu.resync = 200 * time.Millisecond })
	old, cur := dialConsole(t, ts), dialConsole(t, ts)
	old.loadedState()
	cur.loadedState()
	cur.appliesSyncs()
	old.next("a whole state at a resync", func(m map[string]any) bool { return m["type"] == "state" && watcherIn(m, "web") != nil })
	cur.next("a sync at a resync", typeIs("sync"))
	_, types := old.readTypes(3 * 200 * time.Millisecond)
	if types["sync"] > 0 {
		t.Fatalf("a console that never asked got %v", types)
	}
}

// TestConsoleThatMissedAMessageAsksAgain: a console whose version of a
// watcher differs from a sync's asks for it (console_sync) and gets it
// whole; one that asks for a name poold no longer has is told it is gone.
func TestConsoleThatMissedAMessageAsksAgain(t *testing.T) {
	fake := newFakeBackend(t, map[string]int{"web": 2, "worker": 1})
	ts := startServer(t, fake, configs.Web{}, nil)
	c := dialConsole(t, ts)
	c.loadedState()
	c.send("s1", "console_sync", map[string]any{"names": []string{"web", "gone"}})
	m := c.next("the sync asked for", func(m map[string]any) bool { return m["type"] == "sync" && watcherIn(m, "web") != nil })
	web := watcherIn(m, "web")
	if len(web["procs"].(map[string]any)) != 2 || web["v"] == "" || web["v"] != m["versions"].(map[string]any)["web"] {
		t.Errorf("web as sent again: %v; versions %v", web, m["versions"])
	}
	if watcherIn(m, "worker") != nil {
		t.Errorf("worker was not asked for but came: %v", m)
	}
	if r := asSlice(m["removed"]); len(r) != 1 || r[0] != "gone" {
		t.Errorf("removed = %v, want [gone]", r)
	}
}

// TestConsoleAskingANameOverAndOverGetsItOnce: a console_sync or
// console_history naming a watcher 8,000 times was answered with 8,000
// copies of it (35 MB for 10 workers; poold from 27 to 300 MB), built on
// the goroutine that serves every console. Any console may ask, a
// read-only one too.
func TestConsoleAskingANameOverAndOverGetsItOnce(t *testing.T) {
	fake := newFakeBackend(t, map[string]int{"web": 2})
	ts := startServer(t, fake, configs.Web{}, nil)
	c := dialConsole(t, ts)
	c.loadedState()
	names := make([]string, 5000)
	for i := range names {
		names[i] = "web"
	}
	names = append(names, "gone", "gone")
	c.send("s1", "console_sync", map[string]any{"names": names})
	m := c.next("the sync asked for", func(m map[string]any) bool { // not a resync of nothing changed
		return m["type"] == "sync" && len(asSlice(m["removed"])) > 0
	})
	if w, r := asSlice(m["watchers"]), asSlice(m["removed"]); len(w) != 1 || len(r) != 1 {
		t.Fatalf("sync for web 5,000 times and gone twice: %d watchers, %d removed; want each once", len(w), len(r))
	}
	c.send("h1", "console_history", map[string]any{"names": names})
	c.next("the history asked for", typeIs("history"))
}

// TestHelloCarriesNoHistory: a hello used to carry 600 points of history
// for every watcher (4 MB of a 5 MB hello at 200 watchers). A page now
// asks for the cards it shows and gets their last chart window only.
func TestHelloCarriesNoHistory(t *testing.T) {
	fake := newFakeBackend(t, map[string]int{"web": 1, "worker": 1})
	ts := startServer(t, fake, configs.Web{}, func(tu *tunings) { tu.statsFlush = time.Millisecond })
	first := dialConsole(t, ts)
	first.loadedState()
	for range 400 { // a second each on the buses' clock
		fake.Sample(true)
		first.next("the round's stats", typeIs("stats"))
	}
	c := dialConsole(t, ts)
	hello := c.next("hello", typeIs("hello"))
	if h, ok := hello["history"]; ok {
		b, _ := json.Marshal(h)
		t.Fatalf("the hello carries %d bytes of history", len(b))
	}
	c.send("h1", "console_history", map[string]any{"names": []string{"web"}})
	m := c.next("web's history", typeIs("history"))
	hist := m["history"].(map[string]any)
	pts := asSlice(hist["web"])
	if hist["worker"] != nil || len(pts) < 290 || len(pts) > 301 {
		t.Fatalf("history for web: %d points (want the last 300 s: 300 or 301), worker's sent: %v", len(pts), hist["worker"] != nil)
	}
	span := toFloat(asSlice(pts[len(pts)-1])[0]) - toFloat(asSlice(pts[0])[0])
	if span > 300 { // util.js WINDOW
		t.Errorf("web's history spans %g s, more than the chart's 300 s", span)
	}
}
