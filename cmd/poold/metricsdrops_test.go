package main

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/watcher/proctest"
)

// dropsConfig: "full" logs into %[1]s (a small tmpfs); "web" serves.
const dropsConfig = `
[arbiter]
ENDPOINTS

[web]
enabled = false
metrics_address = "127.0.0.1:0"

[sockets.web]
port = 0

[watchers.full]
cmd = @WORKER@
env = ["POOLD_TEST_WORKER=lines", "LINES_FOR=1s", "LINES_DONE=%[2]s"]
stdout_log = "%[1]s/full.log"
stderr_log = "none"

[watchers.web]
cmd = @WORKER@
sockets = ["web"]
env = ["POOLD_TEST_WORKER=serve"]
`

// metricValue is the value of the series line (name{labels}) in a
// scrape, or -1 when the scrape lacks it.
func metricValue(body, series string) float64 {
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// TestMetricsCountDroppedLogLinesAndAbandonedReloads: a full disk under
// a worker log and a rolling reload abandoned showed in poolctl status
// and the log, not in /metrics, so an alert could not fire on either
// (r57b-oncall M3).
func TestMetricsCountDroppedLogLinesAndAbandonedReloads(t *testing.T) {
	t.Parallel()
	full, done := smallTmpfs(t, 256<<10), t.TempDir()
	p := startPoold(t, fmt.Sprintf(dropsConfig, full, done))
	base := "http://" + p.waitLog(`metrics: url=http://(\S+)/metrics`, 1)[0][1]
	c := dialControl(t, p)
	proctest.Eventually(t, "lines of full to be dropped", func() bool {
		lc, _ := call(t, c, "status", map[string]any{"name": "full"})["logs"].(map[string]any)
		d, _ := lc["dropped"].(float64)
		return d > 0
	})
	linesWritten(t, done)
	// poold may still read what the writer left in its pipe: the two
	// counts agree once it has all been read.
	var body string
	var want, got float64
	proctest.Eventually(t, "poold_worker_log_lines_dropped_total of full, file, at status's dropped_file", func() bool {
		lc, _ := call(t, c, "status", nil)["logs"].(map[string]any)
		want, _ = lc["full"].(map[string]any)["dropped_file"].(float64)
		var err error
		if body, err = get(base + "/metrics"); err != nil {
			t.Fatal(err)
		}
		got = metricValue(body, `poold_worker_log_lines_dropped_total{cause="file",pool="full"}`)
		return want > 0 && got == want
	})
	if got := metricValue(body, `poold_worker_log_lines_dropped_total{cause="file",pool="web"}`); got != 0 {
		t.Errorf("poold_worker_log_lines_dropped_total of web, file: %v, want 0", got)
	}
	if got := metricValue(body, `poold_log_lines_dropped_total`); got < 0 {
		t.Errorf("the scrape lacks poold_log_lines_dropped_total")
	}
	if got := metricValue(body, `poold_reloads_abandoned_total{pool="web"}`); got != 0 {
		t.Errorf("poold_reloads_abandoned_total of web before any reload: %v, want 0", got)
	}

	proctest.Eventually(t, "web active", func() bool {
		return call(t, c, "status", map[string]any{"name": "web"})["status"] == "active"
	})
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	_, err := c.Do(ctx, arbiter.Request{Command: "set", Properties: map[string]any{
		"name": "web", "options": map[string]any{"env": []string{"POOLD_TEST_WORKER=crash"}}, "waiting": true}})
	if err == nil || !strings.Contains(err.Error(), "abandoned") {
		t.Fatalf("set of an env whose workers crash: %v, want an abandoned reload", err)
	}
	proctest.Eventually(t, "poold_reloads_abandoned_total of web at 1", func() bool {
		body, err := get(base + "/metrics")
		return err == nil && metricValue(body, `poold_reloads_abandoned_total{pool="web"}`) == 1
	})
}
