package arbiter

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/configs"
)

// TestWaitedStopOverriddenByAStartFails: `stop --waiting` answered ok
// while a start another client sent during the stop had the watcher
// running again (its info even listed the new pids as "started"); a
// script that stops, then works on what it stopped, went on with the
// watcher up. The reply now fails (ErrnoAsync) and says a start came in.
func TestWaitedStopOverriddenByAStartFails(t *testing.T) {
	w := testWatcher("web", "stubborn", 1)
	w.Sockets = []string{"web"}
	w.GracefulTimeout = time.Second
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{w}}, Options{})
	h.spawned()
	h.serving("web") // ignores SIGTERM from now on: the stop lasts the grace
	stopped := doAsync(h, "stop", map[string]any{"name": "web", "waiting": true})
	h.next("kill", nil)
	h.do("start", map[string]any{"name": "web"})
	r := waitReply(t, stopped)
	if st := h.do("status", map[string]any{"name": "web"})["status"]; st != "active" {
		t.Fatalf("status after stop then start: %v, want active", st)
	}
	reason, _ := r["reason"].(string)
	if r["status"] != "error" || r["errno"] != ErrnoAsync || !strings.Contains(reason, "runs again") {
		t.Errorf("waited stop of a watcher a start ran again: %v; want errno %d saying it runs again", r, ErrnoAsync)
	}
}

// TestWaitedIncrOverriddenByADecrFails: `incr --waiting web 2` answered
// ok with numprocesses 3 when a decr sent meanwhile had taken web back
// to 1: the reply named a size the watcher did not run. It now fails
// (ErrnoAsync) naming the size web runs.
func TestWaitedIncrOverriddenByADecrFails(t *testing.T) {
	h := slowReadyWeb(t)
	grown := doAsync(h, "incr", map[string]any{"name": "web", "nb": 2, "waiting": true})
	h.spawns(2)
	h.do("decr", map[string]any{"name": "web", "nb": 2})
	r := waitReply(t, grown)
	reason, _ := r["reason"].(string)
	if r["status"] != "error" || r["errno"] != ErrnoAsync || !strings.Contains(reason, "runs 1 workers, not the 3") {
		t.Errorf("waited incr undone by a decr: %v; want errno %d saying web runs 1, not 3", r, ErrnoAsync)
	}
	// Alone, a waited incr still answers ok with its size.
	if r := h.do("incr", map[string]any{"name": "web", "waiting": true}); r["numprocesses"] != 2 {
		t.Errorf("waited incr alone: %v, want ok with numprocesses 2", r)
	}
}

func waitReply(t *testing.T, c <-chan Reply) Reply {
	t.Helper()
	select {
	case r := <-c:
		return r
	case <-time.After(hang):
		t.Fatalf("no reply within %v", hang)
	}
	return nil
}

// TestWaitedRmTakenBackByAReloadFails: `rm --waiting web` answered ok
// while a reloadconfig sent during web's stop, whose file still defines
// web, took it back: web ran again. The reply now fails (ErrnoAsync) and
// says web was not removed.
func TestWaitedRmTakenBackByAReloadFails(t *testing.T) {
	w := testWatcher("web", "stubborn", 1)
	w.Sockets = []string{"web"}
	w.GracefulTimeout = time.Second
	cfg := &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{w}}
	h := start(t, cfg, Options{Load: func() (*configs.Config, error) {
		return &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{w}}, nil
	}})
	h.spawned()
	h.serving("web") // ignores SIGTERM from now on: the stop lasts the grace
	removed := doAsync(h, "rm", map[string]any{"name": "web", "waiting": true})
	h.next("kill", nil)
	h.do("reloadconfig", map[string]any{"waiting": true})
	r := waitReply(t, removed)
	if got := h.do("list", nil)["watchers"]; fmt.Sprint(got) != "[web]" {
		t.Fatalf("watchers after rm then a reload that defines web: %v, want [web]", got)
	}
	reason, _ := r["reason"].(string)
	if r["status"] != "error" || r["errno"] != ErrnoAsync || !strings.Contains(reason, "was not removed") {
		t.Errorf("waited rm of a watcher a reload took back: %v; want errno %d saying it was not removed", r, ErrnoAsync)
	}
}

// Two waited incrs of 1, one after the other, both applied (web 1 → 3):
// neither undid the other, yet the first answered that its size had been
// changed under it (r50b review). A later incr adds to an incr's workers.
func TestTwoWaitedIncrsBothAnswerOk(t *testing.T) {
	h := slowReadyWeb(t)
	a := doAsync(h, "incr", map[string]any{"name": "web", "nb": 1, "waiting": true})
	h.spawns(1)
	b := doAsync(h, "incr", map[string]any{"name": "web", "nb": 1, "waiting": true})
	h.spawns(1)
	if ra, rb := waitReply(t, a), waitReply(t, b); ra["status"] != "ok" || rb["status"] != "ok" {
		t.Errorf("two waited incrs that both took effect: %v and %v, want both ok", ra, rb)
	}
}

// A restart sent during a waited stop starts the watcher again after the
// stop, as a start does: the stop must not answer ok (r50b review; its
// wait ended between the restart's stop and its start).
func TestWaitedStopOverriddenByARestartFails(t *testing.T) {
	w := testWatcher("web", "stubborn", 1)
	w.Sockets = []string{"web"}
	w.GracefulTimeout = time.Second
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{w}}, Options{})
	h.spawned()
	h.serving("web")
	stopped := doAsync(h, "stop", map[string]any{"name": "web", "waiting": true})
	h.next("kill", nil)
	h.do("restart", map[string]any{"name": "web"})
	r := waitReply(t, stopped)
	h.spawned()
	if st := h.do("status", map[string]any{"name": "web"})["status"]; st != "stopped" && r["status"] == "ok" {
		t.Errorf("a waited stop answered ok while a restart sent during it has web %v", st)
	}
	// Its wait ends between the restart's stop and its start: web is
	// stopped then, and the reason said "runs again (stopped)", which
	// reads as a contradiction (r55b review). It says what happens.
	want := `watcher "web" stopped, but a restart that came in before the stop was done is starting it again`
	if reason, _ := r["reason"].(string); !strings.Contains(reason, want) {
		t.Errorf("waited stop overtaken by a restart: %v; want the reason to say %q", r, want)
	}
}

// A restart sent during a waited incr brings the watcher back with the
// incr's size, yet the incr failed as "stopped before the incr finished
// (a stop, rm, quit...)" (r50b review).
func TestWaitedIncrThroughARestartAnswersOk(t *testing.T) {
	h := slowReadyWeb(t)
	incr := doAsync(h, "incr", map[string]any{"name": "web", "nb": 1, "waiting": true})
	h.spawns(1)
	h.do("restart", map[string]any{"name": "web"})
	if r := waitReply(t, incr); r["status"] != "ok" {
		t.Errorf("a waited incr through a restart that kept its size: %v, want ok", r)
	}
	if n := h.do("numprocesses", map[string]any{"name": "web"})["numprocesses"]; n != 2 {
		t.Errorf("numprocesses %v after the incr and the restart, want 2", n)
	}
}

// slowReadyWeb runs watcher web, one worker, ready once that worker has
// run a second: a waited incr of it is not done before the next command
// comes. Its first worker is ready when it returns.
func slowReadyWeb(t *testing.T) *harness {
	t.Helper()
	w := testWatcher("web", "sleep", 1)
	w.Readiness = "delay"
	w.ReadyDelay = time.Second
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{})
	h.spawned()
	h.next("ready", nil)
	return h
}
