package metrics

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher"
	"github.com/poold/poold/watcher/proctest"
)

// fixedSource is a Source with one fixed Snapshot.
type fixedSource struct{ snap arbiter.Snapshot }

func (f fixedSource) Snapshot(context.Context) (arbiter.Snapshot, error) { return f.snap, nil }
func (f fixedSource) ReadWorkerUsage(context.Context, arbiter.Snapshot) map[int]arbiter.Usage {
	return nil
}
func (f fixedSource) OnSettled(context.Context, string, func(time.Time, bool)) bool {
	return false
}

// readmeQueries are the PromQL expressions (on poold's metrics) of the
// README's "Useful queries" paragraph.
func readmeQueries(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(b), "Useful queries:")
	para, _, _ := strings.Cut(after, "\n\n")
	var out []string
	for _, m := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(para, -1) {
		if strings.Contains(m[1], "poold_") { // not a word of the prose
			out = append(out, m[1])
		}
	}
	if !ok || len(out) == 0 {
		t.Fatal(`README.md: no "Useful queries:" paragraph with queries`)
	}
	return out
}

// scrapeSeries serves the exporter of src on a loopback port, scrapes it
// once and returns its pool samples as promtool input series, each
// constant over the test.
func scrapeSeries(t *testing.T, src Source) []string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: New(Options{Source: src}).Handler()}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(l) }()
	defer func() { srv.Close(); <-done }()
	resp, err := client.Get("http://" + l.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var series []string
	for name, f := range fams {
		if !strings.HasPrefix(name, "poold_pool_") {
			continue
		}
		for _, m := range f.Metric {
			var labels []string
			for _, l := range m.Label {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			sort.Strings(labels)
			series = append(series, fmt.Sprintf("  - series: '%s{%s}'\n    values: '%gx60'",
				name, strings.Join(labels, ","), m.GetGauge().GetValue()))
		}
	}
	sort.Strings(series)
	return series
}

// TestReadmeAlertQueryFires: the README's query for a pool short of
// ready workers, `poold_pool_workers{state="ready"} <
// poold_pool_desired_workers`, matched nothing at all (its two sides have
// different labels, state on one only), so an alert on it never fired.
// Evaluated by promtool on a real scrape, it fires for the active pool
// with 1 of its 3 workers ready, and not for a pool that has all of its,
// nor for a pool stopped on purpose (autostart = false, `poolctl stop`).
func TestReadmeAlertQueryFires(t *testing.T) {
	spec := configs.DefaultWatcher("x")
	manual := configs.DefaultWatcher("batch")
	manual.Autostart = false
	ready := watcher.Process{Pid: 10, Wid: 1, State: watcher.ProcReady}
	src := fixedSource{arbiter.Snapshot{Watchers: []arbiter.WatcherSnapshot{
		{Name: "web", Status: watcher.Active, Shown: watcher.Active, Target: 3, Spec: spec, Size: watcher.Size{Min: 3, Max: 3},
			Processes: []watcher.Process{ready, {Pid: 11, Wid: 2, State: watcher.ProcStarting}}},
		{Name: "api", Status: watcher.Active, Shown: watcher.Active, Target: 1, Spec: spec, Size: watcher.Size{Min: 1, Max: 1},
			Processes: []watcher.Process{ready}},
		{Name: "batch", Status: watcher.Stopped, Shown: watcher.Stopped, Target: 2, Spec: manual, Size: watcher.Size{Min: 2, Max: 2}},
	}}}
	var missing string
	var rules []string
	for i, q := range readmeQueries(t) {
		if strings.Contains(q, "poold_pool_desired_workers") {
			missing = q
		}
		rules = append(rules, fmt.Sprintf("  - record: readme:query%d\n    expr: '%s'", i, q))
	}
	if missing == "" {
		t.Fatal("README.md: no useful query on poold_pool_desired_workers")
	}
	rules = append(rules, fmt.Sprintf("  - alert: WorkersMissing\n    expr: '%s'", missing))
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "rules.yml"), "groups:\n- name: readme\n  rules:\n"+strings.Join(rules, "\n")+"\n")
	writeFile(t, filepath.Join(dir, "test.yml"), `rule_files: [rules.yml]
evaluation_interval: 1m
tests:
- interval: 1m
  input_series:
`+strings.Join(scrapeSeries(t, src), "\n")+`
  alert_rule_test:
  - eval_time: 5m
    alertname: WorkersMissing
    exp_alerts:
    - exp_labels: {pool: web}
`)
	cmd := exec.Command(proctest.Tool(t, "promtool", "prometheus"), "test", "rules", "test.yml")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool test rules with the README's query %q: %v\n%s", missing, err, bytes.TrimSpace(out))
	}
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}
