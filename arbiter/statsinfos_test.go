package arbiter

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/poold/poold/watcher"
	"github.com/poold/poold/watcher/procinfo"
)

// BenchmarkStatsInfos builds the infos of a `stats` of every watcher
// for POOLD_PROCINFO_BENCH_N (default 1,000) workers, in one watcher and
// in 10: way "grown" fills maps made empty, as cmdStats did, "sized" is
// infosByWatcher. B/op is what the first call after an idle spell
// faults in.
func BenchmarkStatsInfos(b *testing.B) {
	n := 1000
	if v, err := strconv.Atoi(os.Getenv("POOLD_PROCINFO_BENCH_N")); err == nil && v > 0 {
		n = v
	}
	for _, watchers := range []int{1, 10} {
		names := make([]string, watchers)
		for i := range names {
			names[i] = fmt.Sprintf("w%d", i)
		}
		rows := make([]procRow, n)
		sampled := make(map[int]procinfo.Info, n)
		for i := range rows {
			pid := 100000 + i
			rows[i] = procRow{watcher: names[i*watchers/n], proc: watcher.Process{Pid: pid, Wid: i, State: "ready", Started: time.Now()}}
			sampled[pid] = procinfo.Info{PID: pid, Cmdline: "tiny", Username: "root", Children: []procinfo.Info{}, Argv: []string{"/tmp/tiny"}}
		}
		for _, way := range []string{"grown", "sized"} {
			b.Run(fmt.Sprintf("watchers=%d/%s", watchers, way), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if way == "sized" {
						_ = infosByWatcher(names, rows, sampled)
						continue
					}
					infos := map[string]map[string]ProcInfo{}
					for _, n := range names {
						infos[n] = map[string]ProcInfo{}
					}
					for _, r := range rows {
						infos[r.watcher][strconv.Itoa(r.proc.Pid)] = info(r, sampled)
					}
				}
			})
		}
	}
}

// infosByWatcher gives every watcher its map, with its workers' infos
// under their pids: the one without workers an empty map, not none.
func TestInfosByWatcher(t *testing.T) {
	rows := []procRow{
		{watcher: "a", proc: watcher.Process{Pid: 11, Wid: 1, State: "ready"}},
		{watcher: "a", proc: watcher.Process{Pid: 12, Wid: 2, State: "ready"}},
		{watcher: "c", proc: watcher.Process{Pid: 31, Wid: 1, State: "ready"}},
	}
	sampled := map[int]procinfo.Info{11: {PID: 11, Cmdline: "x"}, 31: {PID: 31, Cmdline: "z"}}
	infos := infosByWatcher([]string{"a", "b", "c"}, rows, sampled)
	if len(infos) != 3 || len(infos["a"]) != 2 || infos["b"] == nil || len(infos["b"]) != 0 || len(infos["c"]) != 1 {
		t.Fatalf("infos %v", infos)
	}
	if got := infos["a"]["11"]; got.Cmdline != "x" || got.WID != 1 {
		t.Errorf("a/11: %+v", got)
	}
	if got := infos["a"]["12"]; got.PID != 12 || got.WID != 2 {
		t.Errorf("a/12 (gone from /proc): %+v", got)
	}
}
