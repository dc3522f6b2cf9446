package metrics

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher/proctest"
	"github.com/poold/poold/watcher/spawn"
	"github.com/poold/poold/watcher/workertest"
)

func TestMain(m *testing.M) {
	spawn.RunShimIfRequested()
	workertest.Main()
	goleak.VerifyTestMain(m)
}

const hang = 20 * time.Second

// client leaves no idle connection behind for goleak.
var client = &http.Client{Timeout: hang, Transport: &http.Transport{DisableKeepAlives: true}}

// rig is an arbiter with an exporter served on a loopback port.
type rig struct {
	t    testing.TB
	a    *arbiter.Arbiter
	bus  *events.Bus
	url  string
	cfg  atomic.Pointer[configs.Config]
	addr string // the workers' socket
}

func newRig(t *testing.T, cfg *configs.Config) *rig {
	t.Helper()
	return newUpgradableRig(t, cfg, nil)
}

// newUpgradableRig is newRig whose poold upgrades with up (nil: it
// cannot).
func newUpgradableRig(t *testing.T, cfg *configs.Config, up *arbiter.Upgrader) *rig {
	t.Helper()
	cfg.Arbiter = configs.DefaultArbiter()
	r := &rig{t: t, bus: events.NewBus(nil)}
	r.cfg.Store(cfg)
	log := hclog.New(&hclog.LoggerOptions{Output: io.Discard})
	r.a = arbiter.New(cfg, arbiter.Options{Log: log, Events: r.bus, Upgrade: up, Load: func() (*configs.Config, error) {
		c := *r.cfg.Load()
		return &c, nil
	}})
	exp := New(Options{Source: r.a, Events: r.bus, Log: log, Dropped: map[string]func() uint64{"events": func() uint64 { return 7 }},
		Evicted: map[string]func() uint64{"stats": func() uint64 { return 2 }}})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.url = "http://" + l.Addr().String() + "/metrics"
	srv := &http.Server{Handler: exp.Handler()}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); _ = exp.Run(ctx) }()
	<-exp.Ready()
	go func() { defer wg.Done(); _ = r.a.Run(ctx) }()
	go func() { defer wg.Done(); _ = srv.Serve(l) }()
	t.Cleanup(func() {
		cancel()
		srv.Close()
		wg.Wait()
	})
	r.waitReady()
	return r
}

func (r *rig) waitReady() {
	r.t.Helper()
	proctest.Eventually(r.t, "every watcher ready", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), hang)
		defer cancel()
		s, err := r.a.Snapshot(ctx)
		if err != nil || len(arbiter.NotReady(s)) > 0 {
			return false
		}
		for _, sk := range s.Sockets {
			r.addr = sk.Address
		}
		return true
	})
}

// scrape GETs /metrics and parses it.
func (r *rig) scrape() (map[string]*dto.MetricFamily, []byte) {
	r.t.Helper()
	resp, err := client.Get(r.url)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		r.t.Fatalf("scrape: %d %v\n%s", resp.StatusCode, err, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		r.t.Fatalf("scrape does not parse: %v\n%s", err, body)
	}
	return fams, body
}

func (r *rig) do(cmd string, props map[string]any) arbiter.Reply {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	rep := r.a.Do(ctx, arbiter.Request{ID: "t", Command: cmd, Properties: props})
	if rep["status"] == "error" {
		r.t.Fatalf("%s: %v", cmd, rep)
	}
	return rep
}

// value finds the sample of family name whose labels include want.
// gaugeValues lists every sample of a gauge family.
func gaugeValues(fams map[string]*dto.MetricFamily, name string) []float64 {
	var out []float64
	if f := fams[name]; f != nil {
		for _, m := range f.Metric {
			out = append(out, m.GetGauge().GetValue())
		}
	}
	return out
}

func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		got := map[string]string{}
		for _, l := range m.Label {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

func serveWatcher(name string, n int) configs.Watcher {
	w := configs.DefaultWatcher(name)
	w.Cmd = os.Args[0]
	w.NumProcesses = n
	w.Env = []string{workertest.Env + "=serve"}
	w.GracefulTimeout = 5 * time.Second
	w.Sockets = []string{"front"}
	return w
}

func rigConfig() *configs.Config {
	sock := configs.DefaultSocket("front")
	sock.Family = "tcp"
	return &configs.Config{Sockets: []configs.Socket{sock}, Watchers: []configs.Watcher{serveWatcher("web", 2)}}
}

// want is one metric family as the README documents it.
type want struct {
	typ    dto.MetricType
	labels string // label names, sorted, comma-separated
}

var documented = map[string]want{
	"poold_pool_workers":                                 {dto.MetricType_GAUGE, "pool,state"},
	"poold_pool_desired_workers":                         {dto.MetricType_GAUGE, "pool"},
	"poold_pool_empty_slots":                             {dto.MetricType_GAUGE, "pool,state"},
	"poold_pool_status":                                  {dto.MetricType_GAUGE, "pool,status"},
	"poold_worker_restarts_total":                        {dto.MetricType_COUNTER, "pool,reason"},
	"poold_worker_stop_kills_total":                      {dto.MetricType_COUNTER, "pool"},
	"poold_worker_start_time_seconds":                    {dto.MetricType_GAUGE, "pool,wid"},
	"poold_worker_resident_memory_bytes":                 {dto.MetricType_GAUGE, "pool,wid"},
	"poold_worker_cpu_seconds_total":                     {dto.MetricType_COUNTER, "pool,wid"},
	"poold_worker_tree_resident_memory_bytes":            {dto.MetricType_GAUGE, "pool,wid"},
	"poold_worker_tree_cpu_seconds_total":                {dto.MetricType_COUNTER, "pool,wid"},
	"poold_worker_tree_processes":                        {dto.MetricType_GAUGE, "pool,wid"},
	"poold_listener_queue_length":                        {dto.MetricType_GAUGE, "listener"},
	"poold_listener_queue_limit":                         {dto.MetricType_GAUGE, "listener"},
	"poold_reload_duration_seconds":                      {dto.MetricType_HISTOGRAM, "pool"},
	"poold_events_dropped_total":                         {dto.MetricType_COUNTER, "stream"},
	"poold_subscribers_evicted_total":                    {dto.MetricType_COUNTER, "stream"},
	"poold_config_last_reload_successful":                {dto.MetricType_GAUGE, ""},
	"poold_config_last_reload_success_timestamp_seconds": {dto.MetricType_GAUGE, ""},
	"poold_upgrade_state":                                {dto.MetricType_GAUGE, "state"},
	"poold_last_upgrade_timestamp_seconds":               {dto.MetricType_GAUGE, ""},
	"process_resident_memory_bytes":                      {dto.MetricType_GAUGE, ""},
	"process_cpu_seconds_total":                          {dto.MetricType_COUNTER, ""},
	"go_goroutines":                                      {dto.MetricType_GAUGE, ""},
}

// checkFamilies checks every documented family's type and label names,
// and that no pool metric carries a pid.
func checkFamilies(t *testing.T, fams map[string]*dto.MetricFamily) {
	t.Helper()
	for name, w := range documented {
		f := fams[name]
		if f == nil {
			t.Errorf("no %s in the scrape", name)
			continue
		}
		if f.GetType() != w.typ {
			t.Errorf("%s is a %v, want %v", name, f.GetType(), w.typ)
		}
		for _, m := range f.Metric {
			var names []string
			for _, l := range m.Label {
				names = append(names, l.GetName())
			}
			sort.Strings(names)
			if got := strings.Join(names, ","); got != w.labels {
				t.Errorf("%s has labels %q, want %q", name, got, w.labels)
				break
			}
		}
	}
}

// TestScrapeNamesTypesLabelsAndRestartsSurviveReload scrapes a real
// arbiter over HTTP: every documented metric with its type and labels; a
// worker that crashes counts as a restart with reason exit; that counter
// survives a config reload that changes the pool, and the reload command
// is timed; promtool finds nothing to complain about.
func TestScrapeNamesTypesLabelsAndRestartsSurviveReload(t *testing.T) {
	r := newRig(t, rigConfig())
	r.do("reload", map[string]any{"name": "web", "waiting": true})
	fams, body := r.scrape()
	checkFamilies(t, fams)
	for labels, v := range map[string]float64{"state=ready": 2, "state=starting": 0} {
		k, val, _ := strings.Cut(labels, "=")
		if got, _ := value(fams, "poold_pool_workers", map[string]string{"pool": "web", k: val}); got != v {
			t.Errorf("poold_pool_workers{%s} = %v, want %v", labels, got, v)
		}
	}
	if got, _ := value(fams, "poold_events_dropped_total", map[string]string{"stream": "events"}); got != 7 {
		t.Errorf("dropped{events} = %v, want 7 from Options.Dropped", got)
	}
	if got, _ := value(fams, "poold_subscribers_evicted_total", map[string]string{"stream": "stats"}); got != 2 {
		t.Errorf("evicted{stats} = %v, want 2 from Options.Evicted", got)
	}
	promtoolCheck(t, body)
	// A worker just started may still be its exec shim, one the reload
	// replaced may be exiting with its memory already freed, and one that
	// has just exec'd can read RSS 0 in /proc/PID/stat for a moment (the
	// kernel sums its per-CPU page counts lazily; ps shows 0 too): the
	// reload's new workers may all read 0 at first. Some worker with some
	// RSS, soon, is enough.
	proctest.Eventually(t, "some worker's RSS above 0", func() bool {
		fams, _ := r.scrape()
		return slices.Max(append(gaugeValues(fams, "poold_worker_resident_memory_bytes"), 0)) > 0
	})

	// A crash that loses no request: the worker exits 2 on its own.
	if resp, err := client.Get("http://" + r.addr + "/crash"); err != nil {
		t.Logf("GET /crash: %v", err)
	} else {
		resp.Body.Close()
	}
	var restarts float64
	proctest.Eventually(t, "a restart counted with reason exit", func() bool {
		fams, _ := r.scrape()
		restarts, _ = value(fams, "poold_worker_restarts_total", map[string]string{"pool": "web", "reason": "exit"})
		return restarts == 1
	})
	r.waitReady()

	next := rigConfig()
	next.Watchers[0].NumProcesses = 3
	next.Watchers[0].GracefulTimeout = 4 * time.Second
	r.cfg.Store(next)
	rep := r.do("reloadconfig", map[string]any{"waiting": true})
	if fmt.Sprint(rep["updated"]) != "[web]" {
		t.Fatalf("reloadconfig did not update web: %v", rep)
	}
	fams, _ = r.scrape()
	if got, _ := value(fams, "poold_worker_restarts_total", map[string]string{"pool": "web", "reason": "exit"}); got != restarts {
		t.Errorf("restarts{exit} = %v after a config reload, want it kept at %v", got, restarts)
	}
	if got, _ := value(fams, "poold_pool_desired_workers", map[string]string{"pool": "web"}); got != 3 {
		t.Errorf("desired = %v, want 3", got)
	}
	if got, _ := value(fams, "poold_config_last_reload_successful", nil); got != 1 {
		t.Errorf("last reload successful = %v, want 1", got)
	}
	proctest.Eventually(t, "the reload command timed", func() bool {
		fams, _ := r.scrape()
		n, _ := value(fams, "poold_reload_duration_seconds", map[string]string{"pool": "web"})
		return n >= 1
	})
}

// promtoolCheck runs promtool check metrics on a scrape: it reads the
// text format as Prometheus does and lints names, types and help.
func promtoolCheck(t *testing.T, body []byte) {
	t.Helper()
	promtool := proctest.Tool(t, "promtool", "prometheus")
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("promtool: %v", err)
	}
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}
