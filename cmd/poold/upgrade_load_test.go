package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/poold/poold/watcher/proctest"
)

// upgradeLoadConfig: 6 workers on a shared socket, and one worker writing
// numbered lines (partial ones included: 64 KiB writes) to a log file.
const upgradeLoadConfig = `
[arbiter]
ENDPOINTS
[sockets.web]
port = 0
[watchers.web]
cmd = @WORKER@
numprocesses = 6
sockets = ["web"]
env = ["POOLD_TEST_WORKER=serve"]
graceful_timeout = "5s"
[watchers.lines]
cmd = @WORKER@
env = ["POOLD_TEST_WORKER=lines", "LINES_FOR=0s", "LINES_DONE=%[1]s"]
stdout_log = "%[2]s/lines.out.log"
graceful_timeout = "5s"
`

// prober makes requests on the shared socket until stopped: each on a new
// connection, and on one kept-alive connection. Every failure counts, and
// is kept with what explains it (see once), beside the marks of what the
// test did meanwhile (mark) and the longest time the test process itself
// went unscheduled (measure).
//
// A request fails when it gets no answer within hang, the bound of a
// hang: not within a tighter time. Under CI load the test process can
// go unscheduled for seconds (its client then reads an answer that came
// in time too late, the worker long done with it): 1 request of 4,503
// failed once so at 10 s, and stopping this process for 12 s fails 1 or
// 2 requests at 10 s while no connection is lost.
type prober struct {
	addr       string
	began      time.Time
	stop       chan struct{}
	wg         sync.WaitGroup
	ok, failed atomic.Int64
	mu         sync.Mutex
	errs       []string
	marks      []string
	served     map[string]string // by local address: the last answer on it ("pid=... wid=...")
	longest    time.Duration
	gap        time.Duration // the longest the process went unscheduled
	gapAt      time.Time
}

func startProber(addr string) *prober {
	pr := &prober{addr: addr, began: time.Now(), stop: make(chan struct{}), served: map[string]string{}}
	fresh := &http.Client{Timeout: hang, Transport: &http.Transport{DisableKeepAlives: true}}
	kept := &http.Client{Timeout: hang, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	for _, c := range []*http.Client{fresh, kept} {
		repeatUntil(&pr.wg, pr.stop, func() { pr.once(c) })
	}
	pr.wg.Add(1)
	go pr.measure()
	return pr
}

// measure keeps the longest gap between ticks beyond their period, until
// the prober stops: how long the test process went unscheduled.
func (pr *prober) measure() {
	defer pr.wg.Done()
	const period = 10 * time.Millisecond
	tick := time.NewTicker(period)
	defer tick.Stop()
	last := time.Now()
	for {
		select {
		case <-pr.stop:
			return
		case now := <-tick.C:
			pr.mu.Lock()
			if gap := now.Sub(last) - period; gap > pr.gap {
				pr.gap, pr.gapAt = gap, last
			}
			pr.mu.Unlock()
			last = now
		}
	}
}

// since is the time from the prober's start, as failures and marks say it.
func (pr *prober) since(t time.Time) time.Duration { return t.Sub(pr.began).Round(time.Millisecond) }

// mark notes what the test did when (an upgrade asked, its outcome), to
// place a failure among the upgrades.
func (pr *prober) mark(what string) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	pr.marks = append(pr.marks, fmt.Sprintf("+%v %s", pr.since(time.Now()), what))
}

// once makes one request. A failure is kept with when it began, how long
// it took, its connection's local address, whether that connection was
// reused and which worker answered on it last, and where the server's
// end of it is now (serverEnd: which pid holds it, or that it waits in
// the listen queue, or that there is none).
func (pr *prober) once(c *http.Client) {
	start := time.Now()
	var local string
	var reused bool
	trace := &httptrace.ClientTrace{GotConn: func(ci httptrace.GotConnInfo) {
		local, reused = ci.Conn.LocalAddr().String(), ci.Reused
	}}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", "http://"+pr.addr+"/", nil)
	var body []byte
	if err == nil {
		var resp *http.Response
		if resp, err = c.Do(req); err == nil {
			body, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil && resp.StatusCode != 200 {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
		}
	}
	took := time.Since(start)
	end := ""
	if err != nil && local != "" {
		end = "; " + serverEnd(pr.addr, local)
	}
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if err != nil {
		pr.failed.Add(1)
		pr.errs = append(pr.errs, fmt.Sprintf("+%v, after %v: local %s (reused %v, last answered by %q): %v%s",
			pr.since(start), took.Round(time.Millisecond), local, reused, pr.served[local], err, end))
		return
	}
	pr.ok.Add(1)
	pr.served[local] = strings.TrimSpace(string(body))
	pr.longest = max(pr.longest, took)
}

func (pr *prober) end() {
	close(pr.stop)
	pr.wg.Wait()
}

// report is the failures kept (the first n) and the marks, for an error.
func (pr *prober) report(n int) string {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	return fmt.Sprintf("%s\nthe test process went unscheduled for up to %v (at +%v)\nwhat the test did (from the prober's start):\n%s",
		strings.Join(pr.errs[:min(len(pr.errs), n)], "\n"), pr.gap.Round(time.Millisecond), pr.since(pr.gapAt),
		strings.Join(pr.marks, "\n"))
}

// Five upgrades in a row, each to a newly installed binary, under a prober
// on the shared socket: no failed request, the same poold pid and worker
// pids, /proc/PID/exe on the new file, an event seq without a gap with an
// arbiter.upgrade for each, every numbered line of the writer in its log
// file, and commands answered after.
func TestUpgradeUnderLoadKeepsEverything(t *testing.T) {
	done, logs := t.TempDir(), t.TempDir()
	p := startUpgradable(t, fmt.Sprintf(upgradeLoadConfig, done, logs))
	proctest.Eventually(t, "6 web workers and the writer", func() bool {
		return len(p.pids("web")) == 6 && len(p.pids("lines")) == 1
	})
	web, lines := p.pids("web"), p.pids("lines")
	addr := p.waitAddr()
	pr := startProber(addr)
	for i := range 5 {
		p.install(pooldBinary(t))
		pr.mark(fmt.Sprintf("upgrade %d asked", i+1))
		o, refused := p.upgrade()
		pr.mark(fmt.Sprintf("upgrade %d: %v", i+1, o["state"]))
		if refused != nil || o["state"] != "upgraded" {
			pr.end()
			t.Fatalf("upgrade %d: %v %v", i+1, o, refused)
		}
		if int(o["pid"].(float64)) != p.cmd.Process.Pid {
			t.Errorf("upgrade %d: pid %v, want %d", i+1, o["pid"], p.cmd.Process.Pid)
		}
		p.runsInstalled()
	}
	pr.end()
	t.Logf("prober: %d requests ok, %d failed, slowest %v; the test process unscheduled for up to %v",
		pr.ok.Load(), pr.failed.Load(), pr.longest, pr.gap.Round(time.Millisecond))
	if n := pr.failed.Load(); n > 0 {
		t.Errorf("%d requests failed during the upgrades (web pids %v at the start):\n%s", n, web, pr.report(5))
	}
	if pr.ok.Load() == 0 {
		t.Errorf("the prober got no answer at all")
	}
	p.alive()
	if got := p.pids("web"); !slices.Equal(got, web) {
		t.Errorf("web pids %v after 5 upgrades, want %v", got, web)
	}
	if got := p.pids("lines"); !slices.Equal(got, lines) {
		t.Errorf("writer pid %v after 5 upgrades, want %v", got, lines)
	}
	seqs, topics, _ := p.events()
	checkSeqs(t, seqs)
	if n := countOf(topics, "arbiter.upgrade"); n != 5 {
		t.Errorf("%d arbiter.upgrade events, want 5", n)
	}
	if r := p.do("status", nil); r["status"] != "ok" {
		t.Errorf("status after the upgrades: %v", r)
	}
	n := stopWriter(t, done)
	proctest.Eventually(t, "every line in the log file", func() bool {
		_, last, err := readSpan(filepath.Join(logs, "lines.out.log"), "out")
		return err == nil && last >= n
	})
	checkStream(t, logs, "lines.out.log", "out", n)
}

// waitAddr is the shared socket's address, from poold's log.
func (p *upProc) waitAddr() string {
	p.t.Helper()
	var addr string
	proctest.Eventually(p.t, "the socket's address in the log", func() bool {
		for _, l := range strings.Split(p.log.String(), "\n") {
			if _, a, ok := strings.Cut(l, "socket bound: socket=web address="); ok {
				addr, _, _ = strings.Cut(a, " ")
				return true
			}
		}
		return false
	})
	return addr
}

// stopWriter lets the lines worker finish and returns how many lines it
// wrote.
func stopWriter(t *testing.T, done string) int {
	t.Helper()
	if err := os.WriteFile(filepath.Join(done, "stop"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var n int
	proctest.Eventually(t, "the writer to finish", func() bool {
		ents, _ := os.ReadDir(done)
		for _, e := range ents {
			if e.Name() == "stop" || strings.HasSuffix(e.Name(), ".tmp") {
				continue
			}
			if b, err := os.ReadFile(filepath.Join(done, e.Name())); err == nil {
				n, _ = strconv.Atoi(string(b))
				return n > 0
			}
		}
		return false
	})
	return n
}

func countOf(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}
