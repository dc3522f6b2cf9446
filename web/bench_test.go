package web

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/poold/poold/configs"
)

// benchClientEnv makes the test binary a crowd of consoles (TestMain): it
// opens $POOLD_WEB_BENCH_N websockets to the URL in this variable, prints
// "ready" once all have their hello, and then prints the time of every
// stats round that all of them have received. Running the consoles in
// another process keeps their CPU out of the server's measurement.
const benchClientEnv = "POOLD_WEB_BENCH_URL"

func benchClientMain() int {
	n, _ := strconv.Atoi(os.Getenv("POOLD_WEB_BENCH_N"))
	url := os.Getenv(benchClientEnv)
	origin := strings.Replace(strings.TrimSuffix(url, "/ws"), "ws://", "http://", 1)
	var mu sync.Mutex
	seen := map[float64]int{}
	hellos := 0
	out := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for range n {
		c, _, err := websocket.DefaultDialer.Dial(url, http.Header{"Origin": {origin}})
		if err != nil {
			fmt.Fprintln(os.Stderr, "dial:", err)
			return 1
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				_, b, err := c.ReadMessage()
				if err != nil {
					return
				}
				var m struct {
					Type string  `json:"type"`
					Time float64 `json:"time"`
				}
				json.Unmarshal(b, &m)
				mu.Lock()
				switch m.Type {
				case "hello":
					if hellos++; hellos == n {
						fmt.Fprintln(out, "ready")
						out.Flush()
					}
				case "stats":
					if seen[m.Time]++; seen[m.Time] == n {
						fmt.Fprintf(out, "%.3f\n", m.Time)
						out.Flush()
						delete(seen, m.Time)
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return 0
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkConsoles100 measures what 100 open consoles cost poold: one op
// is one stats round (every worker sampled, as poold's sampler publishes
// once a second) delivered to all 100 consoles. "%core@1Hz" is the server's CPU
// per round (hub, encoding, 100 writers, plus the fake sampler) as a share
// of one core at one round per second. Run with -benchtime=100x.
func BenchmarkConsoles100(b *testing.B) {
	for _, workers := range []int{8, 64} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			benchConsoles(b, 100, map[string]int{"web": workers / 2, "worker": workers / 2})
		})
	}
}

func benchConsoles(b *testing.B, consoles int, spec map[string]int) {
	fake := newFakeBackend(b, spec)
	ts := startServer(b, fake, configs.Web{}, func(tu *tunings) { tu.statsFlush = 5 * time.Millisecond })

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), benchClientEnv+"=ws://"+ts.addr+"/ws", "POOLD_WEB_BENCH_N="+strconv.Itoa(consoles))
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() || lines.Text() != "ready" {
		b.Fatalf("console crowd did not start: %q %v", lines.Text(), lines.Err())
	}
	if ts.consoles() != consoles {
		b.Fatalf("%d consoles connected, want %d", ts.consoles(), consoles)
	}

	b.ResetTimer()
	start := cpuTime()
	for b.Loop() {
		fake.Sample(true)
		if !lines.Scan() {
			b.Fatalf("console crowd ended: %v", lines.Err())
		}
	}
	cpu := cpuTime() - start
	b.StopTimer()
	perRound := cpu / time.Duration(b.N)
	b.ReportMetric(float64(perRound.Microseconds()), "cpu-µs/round")
	b.ReportMetric(perRound.Seconds()*100, "%core@1Hz")
}
