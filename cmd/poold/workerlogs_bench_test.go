package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/arbiter/controller/ctlclient"
	"github.com/poold/poold/watcher/proctest"
)

// benchLogConfig: one worker, started by the benchmark, writing LINES_N
// numbered lines to stdout, which goes to %[1]s.
const benchLogConfig = `
[arbiter]
ENDPOINTS
log_format = "text"
[watchers.bench]
cmd = @WORKER@
autostart = false
respawn = false
env = ["POOLD_TEST_WORKER=lines", "LINES_N=%[2]d", "LINES_STDOUT_ONLY=1", "LINES_DONE=%[3]s"]
stdout_log = "%[1]s"
stderr_log = "none"
`

// cpuTicks is a process's user+system time in clock ticks (1/100 s).
func cpuTicks(b *testing.B, pid int) int64 {
	b.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+2:]))
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return u + s
}

// lastLineIn reports whether the file's tail holds "out N" followed by
// what the sink writes after a line (a newline in a file, the fields in
// poold's log).
func lastLineIn(path string, n int, after string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return false
	}
	buf := make([]byte, 4096)
	off := max(st.Size()-int64(len(buf)), 0)
	k, _ := f.ReadAt(buf, off)
	return bytes.Contains(buf[:k], []byte("out "+strconv.Itoa(n)+after))
}

// BenchmarkWorkerLogLines: b.N lines from one worker through poold to a
// file sink and to poold's stderr (text log, into a file), and straight
// to a file (the floor: the worker's stdout is the file). lines/s is the
// rate the sink got them; cpu-ms/100k is poold's CPU per 100,000 lines.
func BenchmarkWorkerLogLines(b *testing.B) {
	for _, sink := range []string{"file", "stderr"} {
		b.Run(sink, func(b *testing.B) {
			dir, done := b.TempDir(), b.TempDir()
			out := filepath.Join(dir, "bench.log")
			target, after := out, "\n"
			var stderr *os.File
			if sink == "stderr" {
				target, after = "stderr", ": pid="
				var err error
				if stderr, err = os.Create(out); err != nil {
					b.Fatal(err)
				}
				defer stderr.Close()
			}
			var p *proc
			if stderr != nil {
				p = startPooldStderr(b, fmt.Sprintf(benchLogConfig, target, b.N, done), stderr)
			} else {
				p = startPoold(b, fmt.Sprintf(benchLogConfig, target, b.N, done))
			}
			ctx, cancel := context.WithTimeout(context.Background(), hang)
			defer cancel()
			c, err := ctlclient.DialContext(ctx, "ipc://"+p.dir+"/c.sock")
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			cpu0 := cpuTicks(b, p.cmd.Process.Pid)
			b.ResetTimer()
			start := time.Now()
			if r, err := c.Do(ctx, arbiter.Request{Command: "start", Properties: map[string]any{"name": "bench"}}); err != nil || r["status"] != "ok" {
				b.Fatalf("start bench: %v %v", r, err)
			}
			// Done: poold read every line (its ring counted them) and the
			// sink wrote what it keeps: the last line in the file, or
			// nothing left queued for stderr, which drops lines rather
			// than block (counted in dstats log_dropped).
			do := func(cmd string, props map[string]any) arbiter.Reply {
				r, err := c.Do(ctx, arbiter.Request{Command: cmd, Properties: props})
				if err != nil {
					b.Fatal(err)
				}
				return r
			}
			finished := func() bool {
				lc, _ := do("status", map[string]any{"name": "bench"})["logs"].(map[string]any)
				if lc["lines"] != float64(b.N) {
					return false
				}
				if sink == "file" {
					return lastLineIn(out, b.N, after)
				}
				info, _ := do("dstats", nil)["info"].(map[string]any)
				return info["log_queued"] == 0.0
			}
			if !proctest.Poll(2*time.Minute, finished) {
				b.Fatalf("%d lines did not get through poold to %s within 2 minutes", b.N, out)
			}
			took := time.Since(start)
			b.StopTimer()
			cpu := cpuTicks(b, p.cmd.Process.Pid) - cpu0
			b.ReportMetric(float64(b.N)/took.Seconds(), "lines/s")
			b.ReportMetric(float64(cpu)*10*1e5/float64(b.N), "cpu-ms/100k")
			if sink == "stderr" {
				info, _ := do("dstats", nil)["info"].(map[string]any)
				dropped, _ := info["log_dropped"].(float64)
				b.ReportMetric(100*dropped/float64(b.N), "%dropped")
			}
		})
	}
	b.Run("floor", func(b *testing.B) {
		dir := b.TempDir()
		out, err := os.Create(filepath.Join(dir, "bench.log"))
		if err != nil {
			b.Fatal(err)
		}
		defer out.Close()
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), "POOLD_TEST_WORKER=lines", "LINES_N="+strconv.Itoa(b.N), "LINES_STDOUT_ONLY=1", "LINES_DONE="+dir)
		cmd.Stdout = out
		b.ResetTimer()
		start := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
		if !proctest.Poll(2*time.Minute, func() bool { return lastLineIn(out.Name(), b.N, "\n") }) {
			b.Fatalf("the last of %d lines never reached %s", b.N, out.Name())
		}
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "lines/s")
	})
}
