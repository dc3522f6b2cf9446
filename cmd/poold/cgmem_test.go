package main

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/poold/poold/watcher/proctest"
)

// cgmemConfig: gu holds 40 MiB under a memory_max of 96 MiB; free holds
// as much with no limit.
const cgmemConfig = `
[arbiter]
ENDPOINTS
stats_interval = "300ms"

[web]
enabled = false
metrics_address = "127.0.0.1:0"

[watchers.gu]
cmd = "/usr/bin/python3"
args = ["-c", "import time\nb = b'x' * (40 << 20)\ntime.sleep(3600)"]
memory_max = "96M"

[watchers.free]
cmd = "/usr/bin/python3"
args = ["-c", "import time\nb = b'x' * (40 << 20)\ntime.sleep(3600)"]
`

// TestCgroupMemoryBesideMemoryMax (r63 memstats): the kernel's OOM
// killer judges a worker under memory_max on its cgroup's charge, which
// nothing showed: stats, poolctl stats, the stats stream and /metrics
// had the RSS of each process only. They now show the cgroup's charge
// and peak beside the limit, for a worker under memory_max only; Circus's
// circusctl and stats client still read them as before.
func TestCgroupMemoryBesideMemoryMax(t *testing.T) {
	p := startPoold(t, cgmemConfig)
	needCgroups(t, p)
	c := dialControl(t, p)
	const max = 96 << 20
	var gu map[string]any
	proctest.Eventually(t, "gu's worker charged its 40 MiB", func() bool {
		info, _ := call(t, c, "stats", map[string]any{"name": "gu"})["info"].(map[string]any)
		for _, v := range info {
			gu, _ = v.(map[string]any)
		}
		cur, _ := gu["cgroup_memory"].(float64)
		return cur >= 40<<20
	})
	cur, peak := gu["cgroup_memory"].(float64), gu["cgroup_memory_peak"]
	if cur > max || gu["memory_max"] != float64(max) {
		t.Errorf("gu's worker: cgroup_memory %v, memory_max %v; want at most and exactly %d", cur, gu["memory_max"], max)
	}
	if pk, ok := peak.(float64); !ok || pk < cur || pk > max {
		t.Errorf("gu's worker: cgroup_memory_peak %v, want between %v and %d", peak, cur, max)
	}
	proctest.Eventually(t, "free's worker", func() bool {
		info, _ := call(t, c, "stats", map[string]any{"name": "free"})["info"].(map[string]any)
		for _, v := range info {
			in, _ := v.(map[string]any)
			if _, ok := in["cgroup_memory"]; ok {
				t.Fatalf("a worker without memory_max has cgroup figures: %v", in)
			}
			return true
		}
		return false
	})

	base := "http://" + p.waitLog(`metrics: url=http://(\S+)/metrics`, 1)[0][1]
	body, err := get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for _, re := range []string{`poold_pool_memory_max_bytes\{pool="gu"\} 1\.00663296e\+08`,
		`poold_worker_cgroup_memory_bytes\{pool="gu",wid="1"\} (\S+)`, `poold_worker_cgroup_memory_peak_bytes\{pool="gu",wid="1"\} (\S+)`} {
		m := regexp.MustCompile(`(?m)^` + re + `$`).FindStringSubmatch(body)
		if m == nil {
			t.Errorf("/metrics lacks %s", re)
			continue
		}
		if len(m) > 1 {
			if v, _ := strconv.ParseFloat(m[1], 64); v < 40<<20 || v > max {
				t.Errorf("%s: %v, want 40 MiB to 96 MiB", re, v)
			}
		}
	}
	if regexp.MustCompile(`poold_(worker_cgroup_memory\w*|pool_memory_max_bytes)\{pool="free"`).MatchString(body) {
		t.Errorf("/metrics has cgroup figures of free, which has no memory_max")
	}
	promtool := proctest.Tool(t, "promtool", "prometheus")
	check := exec.Command(promtool, "check", "metrics")
	check.Stdin = strings.NewReader(body)
	if out, err := check.CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}

	// Circus's own clients: circusctl's stats lines and its stats
	// stream client, which the added fields must not upset.
	circusPeer(t)
	r := circusctlBatch(t, ctlEndpoint(p), [][]string{{"stats", "gu"}})
	if r[0].code != 0 || !regexp.MustCompile(`^gu:\n\d+: \d+ +python3 root `).MatchString(r[0].out) {
		t.Errorf("circusctl stats gu: exit %d:\n%s", r[0].code, r[0].out)
	}
	const script = `
import json, sys, time
from circus.stats.client import StatsClient
client = StatsClient(sys.argv[1])
client.timeout = 1
deadline = time.time() + 25
for watcher, subtopic, stat in client:
    if watcher == 'gu' and subtopic and 'cgroup_memory' in stat or time.time() > deadline:
        print(json.dumps(stat))
        break
`
	ctx, cancel := contextWithHang()
	defer cancel()
	out, err := circusPython(t, ctx, "-c", script, "ipc://"+p.dir+"/s.sock").CombinedOutput()
	if err != nil {
		t.Fatalf("Circus's StatsClient: %v\n%s", err, out)
	}
	var stat map[string]any
	if err := json.Unmarshal(out, &stat); err != nil {
		t.Fatalf("Circus's StatsClient printed %q: %v", out, err)
	}
	if v, _ := stat["cgroup_memory"].(float64); v < 40<<20 || stat["memory_max"] != float64(max) || stat["mem_info1"] == nil {
		t.Errorf("gu's sample on the stats stream, through Circus's client: %s", fmt.Sprint(stat))
	}
}
