package metrics

import (
	"bufio"
	"cmp"
	"compress/gzip"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/poold/poold/arbiter"
)

// The per-worker series are six families of one series per worker:
// 60,000 series at 10,000 workers. Through client_golang each became a
// constant metric, a protobuf message, a sorted entry and a text line,
// two thirds of a scrape's CPU (BenchmarkScrapeEncode). A text scrape
// (what Prometheus asks of poold: it offers no OpenMetrics) writes them
// itself, in the order and the bytes the registry would, between the
// other families the registry gathers and writes; any other format, or a
// name[] filter, goes through promhttp whole. TestTextScrapeMatchesRegistry
// compares the two.

// workerFamily is one per-worker family: its name, help, type and value.
type workerFamily struct {
	name, help, typ string
	// has says whether a worker has a series; nil: every worker has.
	has   func(r workerLine) bool
	value func(r workerLine) float64
}

// Which workers have a series of a family: those whose usage was read;
// of those, the ones whose cgroup under memory_max was read; of those,
// the ones with a peak (cgroup.MemoryUse).
var (
	usageRead  = func(r workerLine) bool { return r.hasUsage }
	cgroupRead = func(r workerLine) bool { return r.hasUsage && r.u.HasCgroup }
	peakRead   = func(r workerLine) bool { return r.hasUsage && r.u.HasCgroup && r.u.Cgroup.HasPeak }
)

// workerFamilies, sorted by name as the registry sorts families.
var workerFamilies = []workerFamily{
	{"poold_worker_cgroup_memory_bytes", "Memory the worker's own cgroup is charged, bytes, for a pool with memory_max: the worker and every process it started, page cache and kernel memory included, a page shared by a master and its children once (cgroup v2 memory.current, v1 memory.usage_in_bytes). This, not resident memory, is what the kernel holds against memory_max (poold_pool_memory_max_bytes): at the limit it reclaims cache, then the OOM killer ends a process of the cgroup.",
		"gauge", cgroupRead, func(r workerLine) float64 { return float64(r.u.Cgroup.Current) }},
	{"poold_worker_cgroup_memory_peak_bytes", "The highest poold_worker_cgroup_memory_bytes of the worker since it started (cgroup v2 memory.peak, v1 memory.max_usage_in_bytes); absent where the kernel keeps no peak for this worker (before Linux 5.19, or a cgroup v2 that held an earlier worker of the slot).",
		"gauge", peakRead, func(r workerLine) float64 { return float64(r.u.Cgroup.Peak) }},
	{"poold_worker_cpu_seconds_total", "User and system CPU time of the worker's own process since it started, seconds; starts again from 0 with each new worker in the slot.",
		"counter", usageRead, func(r workerLine) float64 { return r.u.CPUSeconds }},
	{"poold_worker_resident_memory_bytes", "Resident memory of the worker's own process (not its children), bytes.",
		"gauge", usageRead, func(r workerLine) float64 { return float64(r.u.RSS) }},
	{"poold_worker_start_time_seconds", "When poold started the worker in this slot, unix seconds.",
		"gauge", nil, func(r workerLine) float64 { return r.started }},
	{"poold_worker_tree_cpu_seconds_total", "User and system CPU time of the worker and every process under it, including those that ended and were reaped by the worker or one of its processes, seconds; starts again from 0 with each new worker in the slot.",
		"counter", usageRead, func(r workerLine) float64 { return r.u.TreeCPUSeconds }},
	{"poold_worker_tree_processes", "Processes in the worker's tree: the worker and every process under it.",
		"gauge", usageRead, func(r workerLine) float64 { return float64(r.u.TreeProcesses) }},
	{"poold_worker_tree_resident_memory_bytes", "Resident memory of the worker and every process under it (a gunicorn or uvicorn master's workers), summed, bytes; a page shared by several of them counts in each, as in ps.",
		"gauge", usageRead, func(r workerLine) float64 { return float64(r.u.TreeRSS) }},
}

// workerLine is one worker's series: its labels as written, its start
// time and its usage (hasUsage: read).
type workerLine struct {
	labels   string // {pool="web",wid="1"}
	started  float64
	u        arbiter.Usage
	hasUsage bool
}

// workerLines are the workers of in, by pool, then wid as text: the
// order of the registry's label sort.
func workerLines(in *scrapeInput) []workerLine {
	pools := slices.Clone(in.snap.Watchers)
	slices.SortFunc(pools, func(a, b arbiter.WatcherSnapshot) int { return cmp.Compare(a.Name, b.Name) })
	var out []workerLine
	for _, w := range pools {
		pool := `{pool="` + labelEscaper.Replace(w.Name) + `",wid="`
		for _, p := range textOrder(w.Processes) {
			u, ok := in.usage[p.Pid]
			out = append(out, workerLine{labels: pool + p.wid + `"}`, started: unixSeconds(p.Started), u: u, hasUsage: ok})
		}
	}
	return out
}

// As the text format escapes a label value and a help text.
var (
	labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
)

// writeWorkerFamily writes f's series of lines; nothing if it has none,
// as the registry leaves out a family without series.
func writeWorkerFamily(w *bufio.Writer, f workerFamily, lines []workerLine) {
	head := false
	num := make([]byte, 0, 32)
	for _, l := range lines {
		if f.has != nil && !f.has(l) {
			continue
		}
		if !head {
			w.WriteString("# HELP " + f.name + " ")
			helpEscaper.WriteString(w, f.help)
			w.WriteString("\n# TYPE " + f.name + " " + f.typ + "\n")
			head = true
		}
		w.WriteString(f.name)
		w.WriteString(l.labels)
		w.WriteByte(' ')
		num = appendValue(num[:0], f.value(l))
		num = append(num, '\n')
		w.Write(num)
	}
}

// appendValue writes v as the text format does.
func appendValue(b []byte, v float64) []byte {
	switch {
	case v == 1:
		return append(b, '1')
	case v == 0:
		return append(b, '0')
	case v == -1:
		return append(b, "-1"...)
	case math.IsNaN(v):
		return append(b, "NaN"...)
	case math.IsInf(v, +1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// serveText answers a text scrape from in.
func (e *Exporter) serveText(rsp http.ResponseWriter, req *http.Request, format expfmt.Format, in *scrapeInput) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(&snapshotCollector{e: e, given: in, noWorkers: true})
	mfs, err := prometheus.Gatherers{e.base, reg}.Gather()
	if err != nil {
		scrapeErrors{e.log}.Println("error gathering metrics:", err)
		if len(mfs) == 0 {
			http.Error(rsp, "An error has occurred while gathering metrics:\n\n"+err.Error(), http.StatusInternalServerError)
			return
		}
	}
	h := rsp.Header()
	h.Add("Vary", "Accept")
	h.Add("Vary", "Accept-Encoding")
	h.Set("Content-Type", string(format))
	var out io.Writer = rsp
	if acceptsGzip(req) {
		h.Set("Content-Encoding", "gzip")
		gz := gzip.NewWriter(rsp)
		defer gz.Close()
		out = gz
	}
	bw := bufio.NewWriterSize(out, 64<<10)
	lines := workerLines(in)
	fams := workerFamilies
	for _, mf := range mfs {
		for len(fams) > 0 && fams[0].name < mf.GetName() {
			writeWorkerFamily(bw, fams[0], lines)
			fams = fams[1:]
		}
		if _, err := expfmt.MetricFamilyToText(bw, mf); err != nil {
			scrapeErrors{e.log}.Println("error encoding and sending metric family:", err)
		}
	}
	for _, f := range fams {
		writeWorkerFamily(bw, f, lines)
	}
	if err := bw.Flush(); err != nil {
		scrapeErrors{e.log}.Println("error sending metrics:", err)
	}
}

// acceptsGzip tells whether the scraper takes gzip (Prometheus asks for
// it): Accept-Encoding names gzip, or *, without q=0.
func acceptsGzip(req *http.Request) bool {
	for _, v := range req.Header.Values("Accept-Encoding") {
		for part := range strings.SplitSeq(v, ",") {
			coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			coding = strings.ToLower(strings.TrimSpace(coding))
			if coding != "gzip" && coding != "*" {
				continue
			}
			q := strings.ReplaceAll(params, " ", "")
			if q == "q=0" || strings.HasPrefix(q, "q=0.0") && strings.Trim(q[2:], "0.") == "" {
				return false
			}
			return true
		}
	}
	return false
}
