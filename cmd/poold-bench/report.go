package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Subjects, in table order.
const (
	sPoold  = "poold"
	sFloor  = "floor"      // plain Go fork/exec loop, same binary, same fds
	sShim   = "floor+shim" // the same loop through poold's poold-exec shim (LISTEN_PID; poold's path with nice or oom_score_adj, not the memfd stub of plain workers)
	sCircus = "circus"
	sSup    = "supervisord"
	sGuni   = "gunicorn"
)

var subjects = []string{sPoold, sFloor, sShim, sCircus, sSup, sGuni}

// stat is one figure for one subject: the median and p99 of its samples
// (nearest rank: below 100 samples the p99 is the maximum, printed "max";
// a single sample gives both).
type stat struct {
	Median  float64   `json:"median"`
	P99     float64   `json:"p99"`
	N       int       `json:"samples"`
	Samples []float64 `json:"-"`
	Note    string    `json:"note,omitempty"`
}

func newStat(samples []float64) *stat {
	if len(samples) == 0 {
		return nil
	}
	s := append([]float64(nil), samples...)
	sort.Float64s(s)
	return &stat{Median: quantile(s, 0.5), P99: quantile(s, 0.99), N: len(s), Samples: s}
}

// quantile of sorted s by the nearest-rank method.
func quantile(s []float64, q float64) float64 {
	if len(s) == 0 {
		return math.NaN()
	}
	i := int(math.Ceil(q*float64(len(s)))) - 1
	if i < 0 {
		i = 0
	}
	return s[i]
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// row is one line of the table: one measure, a figure per subject.
type row struct {
	Section string           `json:"section"`
	Measure string           `json:"measure"`
	Unit    string           `json:"unit"`
	Values  map[string]*stat `json:"values"`
	// Ratios: poold's median over each other subject's median.
	Ratios map[string]float64 `json:"ratios,omitempty"`
	Target string             `json:"target,omitempty"`
	Met    *bool              `json:"target_met,omitempty"`
	Note   string             `json:"note,omitempty"`
}

type results struct {
	Started  time.Time         `json:"started"`
	Duration string            `json:"duration"`
	Machine  map[string]string `json:"machine"`
	Settings map[string]any    `json:"settings"`
	Rows     []*row            `json:"rows"`
	Notes    []string          `json:"notes"`
}

func (r *results) add(section, measure, unit string) *row {
	rw := &row{Section: section, Measure: measure, Unit: unit, Values: map[string]*stat{}}
	r.Rows = append(r.Rows, rw)
	return rw
}

func (r *results) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

func (rw *row) set(subject string, s *stat) *row {
	if s != nil {
		rw.Values[subject] = s
	}
	return rw
}

func (rw *row) one(subject string, v float64) *row { return rw.set(subject, newStat([]float64{v})) }

// target records a target for poold's figure: ok says whether it is met.
func (rw *row) target(text string, ok bool) *row {
	rw.Target = text
	rw.Met = &ok
	return rw
}

var sectionOrder = map[string]int{"spawn": 0, "replace": 1, "events": 2, "idle": 3, "control": 4, "reload": 5, "upgrade": 6, "tenk": 7}

func (r *results) finish() {
	sort.SliceStable(r.Rows, func(i, j int) bool {
		return sectionOrder[r.Rows[i].Section] < sectionOrder[r.Rows[j].Section]
	})
	for _, rw := range r.Rows {
		p := rw.Values[sPoold]
		if p == nil {
			continue
		}
		for _, s := range subjects[1:] {
			if o := rw.Values[s]; o != nil && o.Median != 0 {
				if rw.Ratios == nil {
					rw.Ratios = map[string]float64{}
				}
				rw.Ratios[s] = p.Median / o.Median
			}
		}
	}
}

func fmtNum(v float64) string {
	switch a := math.Abs(v); {
	case a == 0:
		return "0"
	case a >= 1000:
		return fmt.Sprintf("%.0f", v)
	case a >= 100:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}

// minP99 is the least number of samples whose nearest-rank p99 is not
// simply their maximum.
const minP99 = 100

// tailName names a stat's upper figure: "p99" from minP99 samples on,
// "max" below (where the nearest-rank p99 is the largest sample).
func tailName(s *stat) string {
	if s.N < minP99 {
		return "max"
	}
	return "p99"
}

// isRate says whether a unit is a rate (requests/s): the upper tail of a
// rate is its best case, not a worst case, so no p99 is shown for it.
func isRate(unit string) bool { return strings.HasSuffix(unit, "/s") }

// fmtStat prints the median and, for several samples of a measure that
// is not a rate, the p99 (or the max, below minP99 samples).
func fmtStat(s *stat, unit string) string {
	if s == nil {
		return "-"
	}
	if s.N > 1 && s.P99 != s.Median && !isRate(unit) {
		return fmtNum(s.Median) + " (" + tailName(s) + " " + fmtNum(s.P99) + ")"
	}
	return fmtNum(s.Median)
}

// writeTable prints the table: figures (median; p99, or max below 100
// samples, when there are several samples and the unit is not a rate), ratios of poold to the floor and to each peer, the target.
func (r *results) writeTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "section\tmeasure\tunit\tpoold\tfloor\tfloor+shim\tcircus\tsupervisord\tgunicorn\tpoold/floor\tpoold/circus\tpoold/sup\tpoold/guni\ttarget")
	for _, rw := range r.Rows {
		cells := []string{rw.Section, rw.Measure, rw.Unit}
		for _, s := range subjects {
			cells = append(cells, fmtStat(rw.Values[s], rw.Unit))
		}
		for _, s := range []string{sFloor, sCircus, sSup, sGuni} {
			if v, ok := rw.Ratios[s]; ok {
				cells = append(cells, fmt.Sprintf("%.2fx", v))
			} else {
				cells = append(cells, "-")
			}
		}
		t := rw.Target
		if rw.Met != nil {
			if *rw.Met {
				t += " ok"
			} else {
				t += " MISSED"
			}
		}
		cells = append(cells, t)
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	tw.Flush()
	for _, n := range r.Notes {
		fmt.Fprintln(w, "note:", n)
	}
}

func (r *results) writeJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// writeBenchfmt writes the figures in Go's benchmark format, one line per
// measure and subject, so that two runs compare with benchstat:
//
//	BenchmarkReplace/kill_to_spawn_event/poold  50  1.2 ms  2.3 ms-max
//
// The second figure is the p99 ("-p99") from 100 samples on, the maximum
// ("-max") below; rates (req/s) have none.
func (r *results) writeBenchfmt(path string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "goos: %s\ngoarch: %s\npkg: github.com/poold/poold/cmd/poold-bench\n", runtime.GOOS, runtime.GOARCH)
	if cpu := r.Machine["cpu"]; cpu != "" {
		fmt.Fprintf(&b, "cpu: %s\n", cpu)
	}
	for _, rw := range r.Rows {
		for _, s := range subjects {
			st := rw.Values[s]
			if st == nil {
				continue
			}
			name := "Benchmark" + title(rw.Section) + "/" + slug(rw.Measure) + "/" + slug(s)
			unit := slug(rw.Unit)
			if unit == "" {
				unit = "count" // benchfmt pairs every value with a unit
			}
			if isRate(rw.Unit) {
				fmt.Fprintf(&b, "%s\t%d\t%g %s\n", name, st.N, st.Median, unit)
				continue
			}
			fmt.Fprintf(&b, "%s\t%d\t%g %s\t%g %s-%s\n", name, st.N, st.Median, unit, st.P99, unit, tailName(st))
		}
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func title(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func slug(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == ' ' || r == '/' || r == '\t':
			return '_'
		case r == '%':
			return 'P'
		}
		return r
	}, s)
}

// machine describes the host for the report.
func machine() map[string]string {
	m := map[string]string{
		"cpus": fmt.Sprint(runtime.NumCPU()),
		"go":   runtime.Version(),
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				if _, v, ok := strings.Cut(l, ":"); ok {
					m["cpu"] = strings.TrimSpace(v)
				}
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		l, _, _ := strings.Cut(string(b), "\n")
		m["memory"] = strings.Join(strings.Fields(l)[1:], " ")
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m["kernel"] = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "PRETTY_NAME="); ok {
				m["os"] = strings.Trim(v, `"`)
			}
		}
	}
	for name, args := range map[string][]string{
		"gunicorn":    {gunicornPath, "--version"},
		"supervisord": {supervisordPath, "--version"},
		"wrk":         {"/usr/bin/wrk", "--version"},
		"python3":     {circusPython, "--version"},
	} {
		out, _ := exec.Command(args[0], args[1:]...).CombinedOutput()
		if l, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n"); l != "" {
			m[name] = l
		}
	}
	return m
}
