package arbiter

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"runtime"
	"strconv"
	"testing"

	"github.com/poold/poold/watcher/procinfo"
)

// marshalReply gives the bytes json.Marshal gives, for stats replies (by
// watcher, one watcher, one process) and others, with what encoding/json
// escapes (HTML, U+2028, quotes, invalid UTF-8) in keys and values.
func TestMarshalReplyIsJSONMarshal(t *testing.T) {
	left := 2.5
	fds, limit := 7, int64(-1)
	child := procinfo.Info{PID: 12, Cmdline: "sh", Username: "nobody", Argv: []string{"sh", "-c", `echo "<&>"`}, Children: []procinfo.Info{}}
	in := func(pid int, cmd string) ProcInfo {
		return ProcInfo{
			Info: procinfo.Info{
				PID: pid, WID: pid % 7, Cmdline: cmd, Username: "r\u2028oot", CPU: 1.5, Mem: 0.001,
				MemInfo1: "1M", MemInfo2: "10M", Ctime: "0:00.01", CreateTime: 1.7e9, Age: 3,
				Started: 1.7e9 + 0.25, Children: []procinfo.Info{}, Argv: []string{cmd, "a\x00b", "\xff"},
				ProcState: "sleeping", RSS: 1 << 20, VMS: 10 << 20,
			},
			State: "ready", Restarts: pid % 3,
		}
	}
	big := map[string]ProcInfo{}
	for pid := 100; pid < 1100; pid++ {
		big[strconv.Itoa(pid)] = in(pid, "app")
	}
	odd := in(5, "<script>&")
	odd.Children = []procinfo.Info{child}
	odd.KillIn, odd.Recycle = &left, true
	odd.FDs, odd.FDLimit = &fds, &limit
	replies := map[string]Reply{
		"stats of all": {"status": "ok", "time": 1.7e9, "id": "x", "seq": 42, "infos": map[string]map[string]ProcInfo{
			"web": big, "a<b>&c": {"5": odd}, "empty": {}, "nil": nil,
		}, "sockets": []map[string]any{{"name": "web", "queue": 0}}},
		"stats of one":       {"status": "ok", "name": "web", "info": map[string]ProcInfo{"5": odd, "6": in(6, "x")}, "id": 3.0},
		"stats of a process": {"status": "ok", "process": 5, "info": odd, "id": nil},
		"nested":             {"status": "ok", "r": Reply{"b": map[string]any{"z": nil, "a": []any{1, "<"}}}, "m": map[string]any(nil), "ps": map[string]ProcInfo(nil)},
		"no infos":           {"status": "ok", "infos": map[string]map[string]ProcInfo{}},
		"nil reply":          nil,
	}
	for name, r := range replies {
		want, werr := json.Marshal(r)
		got, gerr := marshalReply(r)
		if werr != nil || gerr != nil {
			t.Fatalf("%s: json.Marshal: %v, marshalReply: %v", name, werr, gerr)
		}
		if !bytes.Equal(got, want) {
			i := 0
			for i < min(len(got), len(want)) && got[i] == want[i] {
				i++
			}
			t.Errorf("%s: marshalReply differs from json.Marshal at byte %d of %d:\n got %.120s\nwant %.120s", name, i, len(want), got[i:], want[i:])
		}
	}
}

// What json.Marshal cannot encode, marshalReply does not either, at the
// top or deep in a process's info.
func TestMarshalReplyFailsWhereJSONMarshalFails(t *testing.T) {
	bad := ProcInfo{Info: procinfo.Info{CPU: procinfo.Float(math.NaN())}}
	for i, r := range []Reply{
		{"cpu": math.NaN()},
		{"infos": map[string]map[string]ProcInfo{"web": {"1": {}, "2": bad}}},
		{"info": map[string]ProcInfo{"2": bad}},
		{"c": make(chan int)},
	} {
		_, werr := json.Marshal(r)
		_, gerr := marshalReply(r)
		if werr == nil || gerr == nil {
			t.Errorf("reply %d: json.Marshal: %v, marshalReply: %v; want both to fail", i, werr, gerr)
		}
	}
}

// BenchmarkEncodeStatsReply encodes a `stats` reply of
// POOLD_PROCINFO_BENCH_N (default 1,000) workers in 10 watchers, as the
// first call after poold sat idle finds the encoder (two GCs clear
// encoding/json's pooled buffer; they are outside the figures): way
// "marshal" is json.Marshal, "reply" is marshalReply.
func BenchmarkEncodeStatsReply(b *testing.B) {
	n := 1000
	if v, err := strconv.Atoi(os.Getenv("POOLD_PROCINFO_BENCH_N")); err == nil && v > 0 {
		n = v
	}
	infos := map[string]map[string]ProcInfo{}
	for i := range n {
		w := fmt.Sprintf("w%d", i%10)
		if infos[w] == nil {
			infos[w] = map[string]ProcInfo{}
		}
		pid := 100000 + i
		infos[w][strconv.Itoa(pid)] = ProcInfo{
			Info: procinfo.Info{
				PID: pid, WID: i / 10, Cmdline: "tiny", Username: "root", CPU: 0, Mem: 0.001,
				MemInfo1: "48K", MemInfo2: "84K", Ctime: "0:00.00", CreateTime: procinfo.Float(1.7e9 + float64(i)/1000), Age: 30.5,
				Started: 1.7e9 + float64(i)/1000, Children: []procinfo.Info{}, Argv: []string{"/tmp/tiny"},
				ProcState: "sleeping", RSS: 49152, VMS: 86016, PPID: 4242, Threads: 1,
			},
			State: "ready",
		}
	}
	r := Reply{"status": "ok", "time": 1.7e9, "seq": 7, "infos": infos, "sockets": []any{}}
	for _, way := range []string{"marshal", "reply"} {
		b.Run(way, func(b *testing.B) {
			size := 0
			for b.Loop() {
				b.StopTimer()
				runtime.GC()
				runtime.GC()
				b.StartTimer()
				var out []byte
				var err error
				if way == "marshal" {
					out, err = json.Marshal(r)
				} else {
					out, err = marshalReply(r)
				}
				if err != nil {
					b.Fatal(err)
				}
				size = len(out)
			}
			b.ReportMetric(float64(size), "B/reply")
		})
	}
}
