package arbiter

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/poold/poold/arbiter/upgrade"
	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/proctest"
)

// With readiness "spawn", a rolling reload stops the old workers only
// once the new ones wait for connections on the shared socket, not the
// moment they are spawned: plain workers that load for 300 ms before they
// take their socket record when they took it and when SIGTERM came, and
// every old worker's SIGTERM must come after every new worker took it.
func TestSpawnReadinessStopsOldWorkersOnceNewOnesListen(t *testing.T) {
	const n = 2
	dir := t.TempDir()
	w := testWatcher("web", "plain", n)
	w.Sockets = []string{"web"}
	w.Env = append(w.Env, "PLAIN_LOAD_TIME=300ms", "PLAIN_TIMES_DIR="+dir)
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{w}}, Options{})
	first := h.spawns(n)
	stamp := func(event string, pid int) (int64, bool) {
		b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("%s.%d", event, pid)))
		if err != nil {
			return 0, false
		}
		ns, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		return ns, err == nil
	}
	proctest.Eventually(t, "the first workers listening", func() bool {
		for pid := range first {
			if _, ok := stamp("listen", pid); !ok {
				return false
			}
		}
		return true
	})
	readyPids(t, h, "web", n) // seen listening: a reload stops a worker still starting at once
	h.do("reload", map[string]any{"name": "web", "waiting": true})
	proctest.Eventually(t, "every old worker gone from the list", func() bool {
		for _, pid := range h.do("list", map[string]any{"name": "web"})["pids"].([]int) {
			if _, old := first[pid]; old {
				return false
			}
		}
		return true
	})
	var lastListen int64
	for _, pid := range h.do("list", map[string]any{"name": "web"})["pids"].([]int) {
		at, ok := stamp("listen", pid)
		if !ok {
			t.Fatalf("new worker %d never took its socket, yet the old ones are gone", pid)
		}
		lastListen = max(lastListen, at)
	}
	for pid := range first {
		at, ok := stamp("term", pid)
		if !ok {
			t.Fatalf("old worker %d left no SIGTERM time", pid)
		}
		if at < lastListen {
			t.Errorf("old worker %d got SIGTERM %.1f ms before the last new worker took its socket",
				pid, float64(lastListen-at)/1e6)
		}
	}
}

// The console's cookie key goes through the exec's state (as its JSON
// has it) whole: the new image signs and checks cookies as the old did.
func TestCookieKeyIsHandedOver(t *testing.T) {
	key := []byte("0123456789abcdef\xff\xfe\xfd\xfc\x80\x00\x01\x02ghijklmn")
	st := &upgrade.State{Version: upgrade.Version, Config: &configs.Config{}, Extra: map[string]int64{peersPrefix + "tcp 127.0.0.1:5555": 2}}
	handCookieKey(st, key)
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	got, err := upgrade.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if k := CookieKeyHandedOver(got); !bytes.Equal(k, key) {
		t.Errorf("cookie key handed over: %x, want %x", k, key)
	}
	if p := PeersHandedOver(got); len(p) != 1 {
		t.Errorf("peers handed over beside the key: %v, want the one", p)
	}
	if k := CookieKeyHandedOver(&upgrade.State{}); k != nil {
		t.Errorf("cookie key of a state without one: %x, want none", k)
	}
}

// Whether systemd still waits for poold's first READY=1 goes through the
// exec's state; a state that does not say (an older image) counts as
// READY=1 sent.
func TestStartOwedIsHandedOver(t *testing.T) {
	for _, owed := range []bool{true, false} {
		st := &upgrade.State{Version: upgrade.Version, Config: &configs.Config{}}
		handExtras(st, &Upgrader{StartOwed: func() bool { return owed }})
		b, err := json.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		got, err := upgrade.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if StartOwedHandedOver(got) != owed {
			t.Errorf("StartOwed %v handed over as %v", owed, !owed)
		}
	}
	if StartOwedHandedOver(&upgrade.State{}) || StartOwedHandedOver(nil) {
		t.Error("a state that does not say, or none, hands StartOwed over as true")
	}
}
