package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/watcher/proctest"
)

const metricsConfig = `
[arbiter]
ENDPOINTS

[web]
enabled = false
metrics_address = "127.0.0.1:0"

[sockets.web]
port = 0

[watchers.web]
cmd = @WORKER@
numprocesses = 2
sockets = ["web"]
env = ["POOLD_TEST_WORKER=serve"]
graceful_timeout = "5s"
`

// metricsURL starts poold with metricsConfig and returns its metrics
// listener's base URL, once its workers are ready.
func metricsURL(t *testing.T) string {
	t.Helper()
	p := startPoold(t, metricsConfig)
	base := "http://" + p.waitLog(`metrics: url=http://(\S+)/metrics`, 1)[0][1]
	proctest.Eventually(t, "poold ready", func() bool {
		body, err := get(base + "/readyz")
		return err == nil && body == "ready\n"
	})
	return base
}

// TestMetricsAddressWithConsoleDisabled: metrics_address serves /metrics,
// /healthz and /readyz of a real poold whose console is off, and promtool
// accepts the scrape.
func TestMetricsAddressWithConsoleDisabled(t *testing.T) {
	base := metricsURL(t)
	if body, err := get(base + "/healthz"); err != nil || body != "ok\n" {
		t.Fatalf("/healthz: %q %v", body, err)
	}
	body, err := get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`poold_pool_workers{pool="web",state="ready"} 2`,
		`poold_pool_desired_workers{pool="web"} 2`,
		`poold_listener_queue_limit{listener="web"} 2048`,
		`poold_worker_restarts_total{pool="web",reason="exit"} 0`,
		`poold_config_last_reload_successful 1`,
		`poold_events_dropped_total{stream="events"} 0`,
		`poold_subscribers_evicted_total{stream="stats"} 0`,
		"# TYPE poold_reload_duration_seconds histogram",
		"process_resident_memory_bytes ",
		"go_goroutines ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("scrape:\n%s", body)
	}
	promtool := proctest.Tool(t, "promtool", "prometheus")
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// TestPrometheusScrapesPoold runs a real Prometheus server that scrapes
// poold's metrics_address and asks its query API for up and a poold
// metric: the format, as a Prometheus server reads it.
func TestPrometheusScrapesPoold(t *testing.T) {
	prom := proctest.Tool(t, "prometheus", "prometheus")
	base := metricsURL(t)
	target := strings.TrimPrefix(base, "http://")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: poold
    static_configs:
      - targets: [%q]
`, target)), 0o644); err != nil {
		t.Fatal(err)
	}
	port := proctest.FreePort(t)
	api := fmt.Sprintf("http://127.0.0.1:%d", port)
	log := &lockedBuffer{}
	cmd := exec.Command(prom, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port), "--log.level=warn")
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		if t.Failed() {
			t.Logf("prometheus log:\n%s", log.String())
		}
	})
	for query, want := range map[string]string{
		`up{job="poold"}`: "1",
		`poold_pool_desired_workers{job="poold",pool="web"}`: "2",
	} {
		var last string
		proctest.Eventually(t, "prometheus answers "+query+" = "+want, func() bool {
			last = promQuery(api, query)
			return last == want
		})
	}
}

// promQuery asks Prometheus's instant query API and returns the first
// sample's value, or what went wrong.
func promQuery(api, query string) string {
	body, err := get(api + "/api/v1/query?query=" + url.QueryEscape(query))
	if err != nil {
		return err.Error()
	}
	var r struct {
		Status string
		Data   struct {
			Result []struct {
				Value []any
			}
		}
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil || r.Status != "success" {
		return fmt.Sprintf("bad answer %q: %v", body, err)
	}
	if len(r.Data.Result) == 0 || len(r.Data.Result[0].Value) != 2 {
		return "no sample yet"
	}
	return fmt.Sprint(r.Data.Result[0].Value[1])
}
