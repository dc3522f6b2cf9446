package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/poold/poold/watcher/proctest"
)

// upgradeListenConfig: poold's own endpoints on fixed addresses; %[1]s
// is the arbiter section's endpoints, %[2]s and %[3]s the console's and
// the metrics listener's addresses.
const upgradeListenConfig = `
[arbiter]
%[1]s
[web]
enabled = true
address = "%[2]s"
metrics_address = "%[3]s"
[watchers.web]
cmd = @WORKER@
numprocesses = 1
env = ["POOLD_TEST_WORKER=sleep"]
`

// connProber connects to each target in a tight loop, one goroutine per
// target, until stopped, and counts the connects that failed (refused,
// no socket file). Each probe waits for the first byte of an answer (the
// ZMTP greeting, or an HTTP reply to the line it sends) before the next,
// so the prober never outruns poold's accepts and overflows the listen
// backlog (a unix socket's connect would fail with EAGAIN even with no
// upgrade). A connection poold had accepted and loses in the exec is
// counted apart (dropped): that is allowed.
type connProber struct {
	stop     chan struct{}
	wg       sync.WaitGroup
	ok       atomic.Int64
	dropped  atomic.Int64
	failed   atomic.Int64
	mu       sync.Mutex
	errs     []string
	byTarget map[string]int
}

// probeTarget is an address to connect to ("tcp" or "unix") and what to
// send for an answer (nothing: the peer speaks first).
type probeTarget struct {
	network, addr, send string
}

func startConnProber(targets ...probeTarget) *connProber {
	pr := &connProber{stop: make(chan struct{}), byTarget: map[string]int{}}
	for _, tg := range targets {
		repeatUntil(&pr.wg, pr.stop, func() { pr.once(tg) })
	}
	return pr
}

func (pr *connProber) once(tg probeTarget) {
	c, err := net.Dial(tg.network, tg.addr)
	if err != nil {
		pr.failed.Add(1)
		pr.mu.Lock()
		pr.byTarget[tg.network+" "+tg.addr]++
		pr.errs = append(pr.errs, err.Error())
		pr.mu.Unlock()
		return
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(hang))
	if tg.send != "" {
		_, err = io.WriteString(c, tg.send)
	}
	if err == nil {
		_, err = c.Read(make([]byte, 1))
	}
	if err != nil {
		pr.dropped.Add(1)
		return
	}
	pr.ok.Add(1)
}

func (pr *connProber) end() {
	close(pr.stop)
	pr.wg.Wait()
}

// Three upgrades in a row while a prober connects in a tight loop to the
// control endpoint (ipc, then tcp), the event and stats endpoints, the
// console and the metrics listener: not one connect is refused, since
// the new image takes each listening socket over from the old one (the
// ipc socket files are never removed), and all of them still answer on
// the same addresses after.
func TestUpgradeRefusesNoConnectToPooldsOwnEndpoints(t *testing.T) {
	for _, ctlNet := range []string{"unix", "tcp"} {
		t.Run("control over "+ctlNet, func(t *testing.T) {
			dir := t.TempDir()
			ctl, pub := "ipc://"+dir+"/c.sock", "tcp://"+freeAddr(t)
			if ctlNet == "tcp" {
				ctl, pub = "tcp://"+freeAddr(t), "ipc://"+dir+"/e.sock"
			}
			stats := "ipc://" + dir + "/s.sock"
			web, metrics := freeAddr(t), freeAddr(t)
			eps := fmt.Sprintf("endpoint = %q\npubsub_endpoint = %q\nstats_endpoint = %q", ctl, pub, stats)
			p := startUpgradableOn(t, ctl, fmt.Sprintf(upgradeListenConfig, eps, web, metrics))
			var targets []probeTarget
			for _, ep := range []string{ctl, pub, stats} {
				scheme, addr, _ := strings.Cut(ep, "://")
				targets = append(targets, probeTarget{network: map[string]string{"ipc": "unix", "tcp": "tcp"}[scheme], addr: addr})
			}
			for _, addr := range []string{web, metrics} {
				targets = append(targets, probeTarget{network: "tcp", addr: addr, send: "GET /healthz HTTP/1.0\r\n\r\n"})
			}
			pr := startConnProber(targets...)
			for i := range 3 {
				p.install(pooldBinary(t))
				o, refused := p.upgrade()
				if refused != nil || o["state"] != "upgraded" {
					pr.end()
					t.Fatalf("upgrade %d: %v %v", i+1, o, refused)
				}
			}
			pr.end()
			t.Logf("prober on %d addresses: %d connects answered, %d dropped in an exec, %d failed", len(targets), pr.ok.Load(), pr.dropped.Load(), pr.failed.Load())
			if n := pr.failed.Load(); n > 0 {
				t.Errorf("%d connects failed during the upgrades (%v): %v", n, pr.byTarget, pr.errs[:min(len(pr.errs), 5)])
			}
			if pr.ok.Load() == 0 {
				t.Errorf("the prober connected not once")
			}
			p.alive()
			if r := p.do("status", nil); r["status"] != "ok" {
				t.Errorf("status after the upgrades: %v", r)
			}
		})
	}
}

var listenURL = regexp.MustCompile(`(web console|metrics): url=(\S+)`)

// urls lists the console and metrics URLs poold logged, in order.
func (p *upProc) urls() []string {
	var out []string
	for _, m := range listenURL.FindAllStringSubmatch(p.log.String(), -1) {
		out = append(out, m[1]+" "+m[2])
	}
	return out
}

// A console and a metrics listener both on port 0 keep the ports they
// were given at start across upgrades (each takes its own listener over,
// though their configured addresses are the same), and both answer.
func TestUpgradeKeepsPortZeroListeners(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	eps := fmt.Sprintf("endpoint = %q\npubsub_endpoint = %q\nstats_endpoint = %q",
		"ipc://"+dir+"/c.sock", "ipc://"+dir+"/e.sock", "ipc://"+dir+"/s.sock")
	p := startUpgradableOn(t, "ipc://"+dir+"/c.sock", fmt.Sprintf(upgradeListenConfig, eps, "127.0.0.1:0", "127.0.0.1:0"))
	proctest.Eventually(t, "the console and metrics URLs", func() bool { return len(p.urls()) == 2 })
	first := p.urls()
	for i := range 2 {
		if o, refused := p.upgrade(); refused != nil || o["state"] != "upgraded" {
			t.Fatalf("upgrade %d: %v %v", i+1, o, refused)
		}
		proctest.Eventually(t, "the URLs logged again", func() bool { return len(p.urls()) == 2*(i+2) })
	}
	all := p.urls()
	if got := all[len(all)-2:]; !slices.Equal(got, first) {
		t.Errorf("after 2 upgrades: %v, want the ones of the start %v", got, first)
	}
	for _, u := range first {
		url := u[strings.LastIndexByte(u, ' ')+1:]
		resp, err := http.Get(strings.TrimSuffix(strings.TrimSuffix(url, "/metrics"), "/") + "/healthz")
		if err != nil {
			t.Errorf("%s: %v", u, err)
			continue
		}
		resp.Body.Close()
	}
}
