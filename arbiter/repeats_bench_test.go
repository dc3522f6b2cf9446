package arbiter

import (
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher"
)

// BenchmarkOutputLines is the cost per line of the path from a worker's
// pipe to poold's text log (escaping, hclog into io.Discard, the ring):
// "healthy" is a worker whose slot has no crash history (no repeats);
// "history" one after an early death, whose lines are remembered (a
// hash each) and streamed; "repeated" a crash-looping slot's attempt of
// 56 lines that repeats the previous one: held, then one summary line.
func BenchmarkOutputLines(b *testing.B) {
	lines := make([][]byte, 56)
	for i := range lines {
		lines[i] = fmt.Appendf(nil, "  File \"/srv/app/module%d.py\", line %d, in handler_of_some_length\n", i, 10*i)
	}
	for _, tc := range []struct {
		name string
		at   watcher.Attempt
	}{
		{"healthy", watcher.Attempt{N: 1}},
		{"history", watcher.Attempt{N: 2, AfterEarly: true}},
		{"repeated", watcher.Attempt{N: 3, AfterEarly: true, Looping: true}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			log := hclog.New(&hclog.LoggerOptions{Output: io.Discard, Level: hclog.Info})
			o := newOutput(log, true, events.NewBus(nil))
			pl := o.pool("bench", 1000)
			attempt := func() *pipeSink {
				ps := &pipeSink{pool: pl, wid: 1, pid: 4242, stream: "stderr", log: log.With("stream", "stderr")}
				ps.rep = o.attemptOutput(pl, 1, "stderr", tc.at, ps.log)
				return ps
			}
			run := func(ps *pipeSink, n int) {
				bt := &batch{}
				for i := range n {
					o.take(ps, bt, lines[i%len(lines)])
				}
				o.flush(ps, bt)
				if ps.rep != nil {
					ps.rep.end(time.Now())
				}
			}
			// The previous attempt, remembered: the first to compare with.
			run(attempt(), len(lines))
			b.ReportAllocs()
			b.ResetTimer()
			for done := 0; done < b.N; done += len(lines) {
				run(attempt(), min(len(lines), b.N-done))
			}
		})
	}
}
