package metrics

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher"
	"github.com/poold/poold/watcher/cgroup"
)

// mixedSource is two pools, one with a name the text format must
// escape, workers with and without usage, values the format writes
// specially (0, 1) or in exponent form.
func mixedSource() *benchSource {
	start := time.Unix(1754000000, 123456789)
	web := arbiter.WatcherSnapshot{Name: "web", Status: watcher.Active, Shown: watcher.Active, Target: 12, Spec: configs.Watcher{MemoryMax: 64 << 20}}
	odd := arbiter.WatcherSnapshot{Name: "a\\b\"c\nd", Status: watcher.Flapping, Shown: watcher.Flapping, Target: 2}
	usage := map[int]arbiter.Usage{}
	for i := range 12 {
		pid, wid := 2000+i, i+1
		web.Processes = append(web.Processes, watcher.Process{Pid: pid, Wid: wid, State: watcher.ProcReady, Started: start.Add(time.Duration(i) * time.Second)})
		web.Slots = append(web.Slots, watcher.SlotInfo{Wid: wid, State: watcher.ProcReady, Pid: pid})
		if i%5 != 4 { // some workers' usage was not read: they exited
			usage[pid] = arbiter.Usage{RSS: uint64(i) * 123456789, CPUSeconds: float64(i) * 0.37, TreeRSS: uint64(i) * 1e12,
				TreeCPUSeconds: float64(i%2) + 1e-7, TreeProcesses: i % 3}
		}
		if u, ok := usage[pid]; ok && i%3 != 2 { // under memory_max; with a peak or not
			u.Cgroup, u.HasCgroup = cgroup.MemoryUse{Current: uint64(i) << 20, Peak: uint64(i) << 21, Max: 64 << 20, HasPeak: i%2 == 0}, true
			usage[pid] = u
		}
	}
	odd.Processes = []watcher.Process{{Pid: 3000, Wid: 2, State: watcher.ProcStarting, Started: start}}
	odd.Slots = []watcher.SlotInfo{{Wid: 1, State: string(watcher.HoldBackoff)}, {Wid: 2, State: watcher.ProcStarting, Pid: 3000}}
	usage[3000] = arbiter.Usage{RSS: 1, CPUSeconds: 1, TreeRSS: 0, TreeCPUSeconds: 1, TreeProcesses: 1}
	return &benchSource{snap: arbiter.Snapshot{Taken: start, Watchers: []arbiter.WatcherSnapshot{web, odd}}, usage: usage}
}

// withoutRuntime drops the go_ and process_ families, whose values move
// from one gather to the next.
func withoutRuntime(body []byte) string {
	var keep []string
	for line := range strings.Lines(string(body)) {
		name := strings.TrimPrefix(strings.TrimPrefix(line, "# HELP "), "# TYPE ")
		if strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") {
			continue
		}
		keep = append(keep, line)
	}
	return strings.Join(keep, "")
}

// TestTextScrapeMatchesRegistry: a text scrape, which writes the worker
// series itself, says byte for byte what client_golang's registry and
// text encoder say for the same values, gzipped or not; a scraper that
// asks for protobuf still gets it.
func TestTextScrapeMatchesRegistry(t *testing.T) {
	e := New(Options{Source: mixedSource()})
	// A registry family that sorts among the worker families.
	e.restarts.WithLabelValues("web", "exit").Add(3)
	mfs, err := e.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&want, mf); err != nil {
			t.Fatal(err)
		}
	}
	for _, line := range []string{`poold_worker_tree_processes{pool="a\\b\"c\nd",wid="2"} 1`, `poold_worker_cgroup_memory_bytes{pool="web",wid="4"} 3.145728e+06`,
		`poold_worker_cgroup_memory_peak_bytes{pool="web",wid="7"} 1.2582912e+07`, `poold_pool_memory_max_bytes{pool="web"} 6.7108864e+07`, `poold_worker_tree_resident_memory_bytes{pool="web",wid="9"} 8e+12`,
		"# TYPE poold_worker_restarts_total counter"} {
		if !strings.Contains(want.String(), line+"\n") {
			t.Fatalf("the registry's text lacks %s; the comparison would say nothing:\n%s", line, want.String())
		}
	}
	h := e.Handler()
	scrape := func(accept, encoding string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		if encoding != "" {
			req.Header.Set("Accept-Encoding", encoding)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("scrape (Accept %q): %d %s", accept, rec.Code, rec.Body)
		}
		return rec
	}
	// What Prometheus 2 and 3 ask when OpenMetrics is not offered.
	prom := "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1"
	plain := scrape(prom, "")
	if ct := plain.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q, want text/plain", ct)
	}
	if got, w := withoutRuntime(plain.Body.Bytes()), withoutRuntime(want.Bytes()); got != w {
		t.Errorf("text scrape differs from the registry's text:\n--- got\n%s\n--- want\n%s", got, w)
	}
	gz := scrape(prom, "gzip")
	if ce := gz.Header().Get("Content-Encoding"); ce != "gzip" {
		t.Fatalf("Content-Encoding %q, want gzip", ce)
	}
	zr, err := gzip.NewReader(gz.Body)
	if err != nil {
		t.Fatal(err)
	}
	unzipped, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if withoutRuntime(unzipped) != withoutRuntime(want.Bytes()) {
		t.Error("gzipped text scrape differs from the registry's text")
	}
	if ce := scrape(prom, "gzip;q=0, identity").Header().Get("Content-Encoding"); ce != "" {
		t.Errorf("gzip;q=0 gave Content-Encoding %q", ce)
	}
	pb := scrape("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited", "")
	if ct := pb.Header().Get("Content-Type"); !strings.Contains(ct, "protobuf") {
		t.Errorf("protobuf asked: Content-Type %q", ct)
	}
	if !bytes.Contains(pb.Body.Bytes(), []byte("poold_worker_tree_processes")) {
		t.Error("protobuf scrape lacks the worker series")
	}
}
