package spawn

import (
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"
)

// pauseCode is a worker that waits for a signal for good: pause() in a
// loop.
var pauseCode = []byte{
	0xb8, 0x22, 0x00, 0x00, 0x00, // mov eax, 34 (pause)
	0x0f, 0x05, // syscall
	0xeb, 0xf7, // jmp back to the mov
}

// BenchmarkBurstReplace times a burst of kill -9s among a pool of
// workers, each replaced as the arbiter's loop does: a start begun as its
// exit is reported, up to spawnAhead+1 in flight, each waited for until
// the replacement's program is exec'd. Each op kills burst of pool
// workers at once; reported over every replacement, in ms from the kills
// to its start's Wait: the first, p50 and the last. The spawner's thread
// both forks the replacements and reaps the ended workers (and walks its
// children, the backstop, 50 ms after a SIGCHLD): what it does besides
// the forks delays them.
func BenchmarkBurstReplace(b *testing.B) {
	if len(execStubCode) == 0 {
		b.Skip("the pausing worker is amd64 code")
	}
	const pool, burst = 1000, 50
	worker := filepath.Join(b.TempDir(), "pause")
	if err := os.WriteFile(worker, execStubELF(pauseCode), 0o755); err != nil {
		b.Fatal(err)
	}
	spec := ProcSpec{Path: worker, Argv: []string{"pause"}, Umask: 0o022, Listen: true}
	s := New(self(b))
	r := runSpawnerOf(b, s)
	exits := make(chan struct{}, pool+burst)
	var live []*Proc
	begin := func() *Pending { return r.Begin(spec) }
	took := func(pd *Pending) *Proc {
		p, err := pd.Wait()
		if err != nil {
			b.Fatal(err)
		}
		p.OnExit(func(Exit, error) { exits <- struct{}{} }) // on the spawner's goroutine: no blocking
		return p
	}
	for range pool {
		live = append(live, took(begin()))
	}
	b.Cleanup(func() {
		for _, p := range live {
			_ = syscall.Kill(p.Pid, syscall.SIGKILL)
		}
		for range live {
			<-exits
		}
	})
	var first, mid, last []float64
	for b.Loop() {
		victims := live[:burst]
		live = live[burst:]
		t0 := time.Now()
		for _, p := range victims {
			_ = syscall.Kill(p.Pid, syscall.SIGKILL)
		}
		var at []float64
		var inflight []*Pending
		finish := func() {
			live = append(live, took(inflight[0]))
			inflight = inflight[1:]
			at = append(at, float64(time.Since(t0))/1e6)
		}
		for range burst {
			<-exits
			inflight = append(inflight, begin())
			for len(inflight) > 8 { // watcher.spawnAhead
				finish()
			}
			if len(exits) == 0 { // the loop's turn ends: every start finished
				for len(inflight) > 0 {
					finish()
				}
			}
		}
		for len(inflight) > 0 {
			finish()
		}
		first, mid, last = append(first, at[0]), append(mid, at[len(at)/2]), append(last, at[len(at)-1])
	}
	med := func(v []float64) float64 { slices.Sort(v); return v[len(v)/2] }
	b.ReportMetric(med(first), "first-ms")
	b.ReportMetric(med(mid), "p50-ms")
	b.ReportMetric(med(last), "last-ms")
}
