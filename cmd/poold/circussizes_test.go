package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/poold/poold/watcher/proctest"
)

// TestCircusSizesAsBytes2human: the stats reply's mem_info1 and
// mem_info2 are what Circus's own bytes2human makes of the same rss and
// vms, two decimals included ("13.84M"). poold wrote "13M", so Circus
// tools that read the size back (human2bytes: the resource_watcher
// plugin's max_mem, FullStats' mem_max) saw up to 10 % less.
func TestCircusSizesAsBytes2human(t *testing.T) {
	circusPeer(t)
	p := startPoold(t, "\n[arbiter]\nENDPOINTS\n[watchers.w]\ncmd = \"/bin/sleep\"\nargs = [\"3600\"]\nnumprocesses = 2\n")
	c := dialControl(t, p)
	proctest.Eventually(t, "2 workers", func() bool { return goCount(t, c) == 2 })
	const script = `
import sys
from circus.client import CircusClient
from circus.util import bytes2human
c = CircusClient(endpoint=sys.argv[1], timeout=20)
infos = [c.call({"command": "stats", "properties": {"name": "w"}})["info"]]
infos.append({"poold": c.call({"command": "dstats"})["info"]})
c.stop()
n = 0
for info in infos:
    for pid, i in info.items():
        if not isinstance(i, dict):
            continue
        n += 1
        for k, raw in (("mem_info1", "rss"), ("mem_info2", "vms")):
            if i[k] != bytes2human(i[raw]):
                print("%s %s: %s = %r, bytes2human(%s = %d) = %r" % (pid, i["cmdline"], k, i[k], raw, i[raw], bytes2human(i[raw])))
print("checked", n)
`
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	cmd := circusPython(t, ctx, "-c", script, ctlEndpoint(p))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("CircusClient: %v\n%s", err, stderr.String())
	}
	if got := strings.TrimSpace(string(out)); got != "checked 3" {
		t.Errorf("sizes differ from Circus's bytes2human:\n%s", got)
	}
}
