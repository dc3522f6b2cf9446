package main

import (
	"strings"
	"syscall"
	"testing"

	"github.com/poold/poold/watcher/proctest"
)

const readyMinConfig = `
[arbiter]
ENDPOINTS

[web]
enabled = false
metrics_address = "127.0.0.1:0"

[watchers.api]
cmd = "/bin/sh"
args = ["-c", "[ \"$POOLD_WID\" = 3 ] && exit 1; exec sleep 1000"]
numprocesses = 4
backoff_min = "0.1s"
backoff_max = "0.2s"
ready_min = "75%"
`

// A pool of 4 whose slot 3 cannot start serves with 3 workers; /readyz
// answered 503 ("watcher is flapping") for as long, taking every
// replica out of the Service (r57b review). With ready_min = "75%" its
// 3 ready workers make it ready, flapping slot and all.
func TestReadyMinKeepsAPoolWithOneBadSlotReady(t *testing.T) {
	t.Parallel()
	p := startPoold(t, readyMinConfig)
	base := "http://" + p.waitLog(`metrics: url=http://(\S+)/metrics`, 1)[0][1]
	p.waitLog(`slot is flapping`, 1)
	proctest.Eventually(t, "/readyz ready with 3 of 4 workers and slot 3 flapping", func() bool {
		body, err := get(base + "/readyz")
		return err == nil && body == "ready\n"
	})
	if !strings.Contains(p.log.String(), `wid=3`) {
		t.Errorf("the flapping slot is not named in the log")
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}
