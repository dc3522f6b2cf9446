package arbiter

import (
	"fmt"
	"maps"
	"os"
	"testing"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/proctest"
)

func openFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// Every resource of a removed watcher is released: add/rm cycles of each
// kind of watcher leave poold's fd count where it was (defect: notify
// sockets of removed watchers were never closed). 30 cycles of a kind
// show a leak of one fd per cycle 15 times over the slack; 100 took
// 334 s under -race (about 1 s a cycle), most of the arbiter package's
// time in CI.
func TestAddRmCyclesReleaseEverything(t *testing.T) {
	const cycles = 30
	h := start(t, &configs.Config{Sockets: []configs.Socket{tcpSocket("web")}}, Options{})
	// plain and health run /bin/sleep: what leaks is poold's, and a
	// race-built test binary per cycle only costs CPU; notify needs the
	// test binary to send READY=1.
	kinds := map[string]map[string]any{
		"plain":  {"cmd": "/bin/sleep", "args": []any{"3600"}},
		"notify": {"cmd": os.Args[0], "options": map[string]any{"env": []any{"POOLD_TEST_WORKER=notify", quickExit}, "sockets": []any{"web"}, "readiness": "notify"}},
		"health": {"cmd": "/bin/sleep", "args": []any{"3600"}, "options": map[string]any{"health_check": "exec", "health_cmd": "true", "health_interval": 0.01}},
	}
	cycle := func(kind string, i int) {
		props := map[string]any{"name": fmt.Sprintf("%s%d", kind, i), "start": true, "waiting": true}
		maps.Copy(props, kinds[kind])
		h.do("add", props)
		name := props["name"]
		h.do("rm", map[string]any{"name": name, "waiting": true})
	}
	for kind := range kinds {
		cycle(kind, 0) // warm up: lazily created things (the notify directory)
	}
	before := openFDs(t)
	for kind := range kinds {
		for i := 1; i <= cycles; i++ {
			cycle(kind, i)
		}
	}
	var after int
	proctest.Eventually(t, "fd count back to where it was", func() bool {
		after = openFDs(t)
		return after <= before+2
	})
	t.Logf("fds before %d, after %d add/rm cycles %d", before, cycles*len(kinds), after)
}
