package metrics

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher"
	"github.com/poold/poold/watcher/cgroup"
	"github.com/poold/poold/watcher/procinfo"
)

// readmeRow is one row of the README's metric table.
type readmeRow struct {
	typ     string // gauge, counter, histogram
	labels  string // label names, sorted, comma-separated
	meaning string
}

// readmeMetricTable reads the poold_ rows of the README's metric table
// ("| metric | type | labels | meaning |").
func readmeMetricTable(t *testing.T) map[string]readmeRow {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(b), "| metric | type | labels | meaning |\n")
	if !ok {
		t.Fatal(`README.md: no metric table ("| metric | type | labels | meaning |")`)
	}
	rows := map[string]readmeRow{}
	sc := bufio.NewScanner(strings.NewReader(table))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "|") {
			break
		}
		cells := strings.SplitN(strings.TrimSuffix(strings.TrimPrefix(line, "| "), " |"), " | ", 4)
		name := strings.Trim(cells[0], "`")
		if !strings.HasPrefix(name, "poold_") {
			continue // the separator, process_* and go_*
		}
		if len(cells) != 4 {
			t.Fatalf("README.md metric table: the row of %s has %d cells, want 4", name, len(cells))
		}
		var labels []string
		for l := range strings.SplitSeq(cells[2], ",") {
			if l = strings.Trim(strings.TrimSpace(l), "`"); l != "–" && l != "" {
				labels = append(labels, l)
			}
		}
		sort.Strings(labels)
		rows[name] = readmeRow{typ: cells[1], labels: strings.Join(labels, ","), meaning: cells[3]}
	}
	return rows
}

// usageSource is a fixedSource whose workers have usage.
type usageSource struct {
	fixedSource
	usage map[int]arbiter.Usage
}

func (s usageSource) ReadWorkerUsage(context.Context, arbiter.Snapshot) map[int]arbiter.Usage {
	return s.usage
}

// everyFamily scrapes an exporter that has every family poold exports: a
// fixed and an elastic pool with a worker each, a socket, the streams
// poold counts drops and evictions of, the event-fed series.
func everyFamily(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	spec := configs.DefaultWatcher("web")
	spec.MemoryMax = 64 << 20
	worker := watcher.Process{Pid: 10, Wid: 1, State: watcher.ProcReady, Started: time.Now()}
	src := usageSource{fixedSource{arbiter.Snapshot{
		Watchers: []arbiter.WatcherSnapshot{
			{Name: "web", Status: watcher.Active, Shown: watcher.Active, Target: 1, Spec: spec,
				Size: watcher.Size{Current: 1, Min: 1, Max: 1}, Processes: []watcher.Process{worker}},
			{Name: "lazy", Status: watcher.Active, Shown: watcher.Active, Target: 1, Spec: spec,
				Size: watcher.Size{Elastic: true, Current: 1, Max: 3, Ups: 1}, Processes: []watcher.Process{{Pid: 11, Wid: 1, State: watcher.ProcReady}}},
		},
		Sockets: []arbiter.SocketSnapshot{{Name: "front", QueueLimit: 128}},
		Config:  arbiter.ConfigState{LastReloadOK: true, LastSuccess: time.Now()},
	}}, map[int]arbiter.Usage{10: {RSS: 1 << 20, TreeRSS: 1 << 20, TreeProcesses: 1, FDs: procinfo.FDUse{Open: 10, Limit: 1024}, HasFDs: true,
		Cgroup: cgroup.MemoryUse{Current: 3 << 20, Peak: 5 << 20, Max: 64 << 20, HasPeak: true}, HasCgroup: true}}}
	count := func() uint64 { return 0 }
	e := New(Options{Source: src,
		Dropped: map[string]func() uint64{"events": count, "stats": count, "console": count},
		Evicted: map[string]func() uint64{"events": count, "stats": count}})
	tr := e.newTracker() // as Run does
	tr.seed([]string{"web", "lazy"})

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: e.Handler()}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(l) }()
	defer func() { srv.Close(); <-done }()
	resp, err := client.Get("http://" + l.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body bytes.Buffer
	if _, err := body.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(&body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// freeLabels are the labels whose values are names (of a pool, slot,
// socket), not a fixed set the docs list.
var freeLabels = map[string]bool{"pool": true, "wid": true, "listener": true}

// TestReadmeMetricTableMatchesExporter: the README's metric table lists
// every family poold exports, with its type and labels, and both the
// table and the HELP text name every value of a label with a fixed set
// (state, reason, stream, ...). HELP of poold_worker_restarts_total had
// gone stale (no oom, no limit) and the table lacked the pool bounds;
// this catches the next such drift.
func TestReadmeMetricTableMatchesExporter(t *testing.T) {
	rows := readmeMetricTable(t)
	fams := everyFamily(t)
	for name, f := range fams {
		if !strings.HasPrefix(name, "poold_") {
			continue
		}
		row, ok := rows[name]
		if !ok {
			t.Errorf("%s is exported but has no row in README.md's metric table (\"Metrics and health probes\"): add one", name)
			continue
		}
		if typ := strings.ToLower(f.GetType().String()); typ != row.typ {
			t.Errorf("%s: README.md's metric table says type %q, the exporter's is %q", name, row.typ, typ)
		}
		values := map[string][]string{}
		var labels []string
		for i, m := range f.Metric {
			for _, l := range m.Label {
				if i == 0 {
					labels = append(labels, l.GetName())
				}
				if !freeLabels[l.GetName()] && !slices.Contains(values[l.GetName()], l.GetValue()) {
					values[l.GetName()] = append(values[l.GetName()], l.GetValue())
				}
			}
		}
		sort.Strings(labels)
		if got := strings.Join(labels, ","); got != row.labels {
			t.Errorf("%s: README.md's metric table says labels %q, the exporter's are %q", name, row.labels, got)
		}
		for label, vs := range values {
			for _, v := range vs {
				if !regexp.MustCompile(`\b` + regexp.QuoteMeta(v) + `\b`).MatchString(f.GetHelp()) {
					t.Errorf("%s: its HELP does not name %s=%q, which it exports: %q", name, label, v, f.GetHelp())
				}
				if !strings.Contains(row.meaning, "`"+v+"`") {
					t.Errorf("%s: README.md's metric table does not name %s `%s`, which it exports", name, label, v)
				}
			}
		}
	}
	for name := range rows {
		if fams[name] == nil {
			t.Errorf("README.md's metric table has a row for %s, which poold does not export", name)
		}
	}
}
