package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/poold/poold/watcher/proctest"
)

// httpProber asks poold's HTTP surfaces over and over, as an
// orchestrator's probes and a scraper do, and counts the requests that
// got a wrong answer.
type httpProber struct {
	stop   chan struct{}
	wg     sync.WaitGroup
	ok     atomic.Int64
	cut    atomic.Int64 // requests that got no answer
	mu     sync.Mutex
	failed map[string][]string // by URL
}

// startHTTPProber asks each URL in a loop of its own, with a fresh
// connection each time (as the kubelet's probes do) when fresh, else
// on kept-alive connections (as Prometheus does). want is the status
// each URL must answer; a request the exec of an upgrade cut (no answer)
// is counted apart, in cut.
func startHTTPProber(want int, fresh bool, urls ...string) *httpProber {
	pr := &httpProber{stop: make(chan struct{}), failed: map[string][]string{}}
	client := &http.Client{Timeout: hang, Transport: &http.Transport{DisableKeepAlives: fresh}}
	for _, u := range urls {
		repeatUntil(&pr.wg, pr.stop, func() { pr.once(client, u, want) })
	}
	return pr
}

func (pr *httpProber) once(client *http.Client, url string, want int) {
	resp, err := client.Get(url)
	if err != nil {
		pr.cut.Add(1)
		return
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	switch {
	case err != nil:
		pr.cut.Add(1)
	case resp.StatusCode != want:
		pr.mu.Lock()
		defer pr.mu.Unlock()
		pr.failed[url] = append(pr.failed[url], fmt.Sprintf("%s: status %d, want %d: %q", time.Now().Format("15:04:05.000"), resp.StatusCode, want, body))
	default:
		pr.ok.Add(1)
	}
}

// end stops the prober and returns the failures, by URL.
func (pr *httpProber) end() map[string][]string {
	close(pr.stop)
	pr.wg.Wait()
	return pr.failed
}

// Upgrades in a row while probes (/readyz, /healthz on the metrics
// listener and the console) and scrapes (/metrics) run without a pause:
// every answer is right. The new image served its HTTP listeners before
// its loop ran, and under load answered /healthz and /readyz 503 for up
// to a second while it took the workers over: a healthy pod out of its
// Service. It now serves them once it has taken the workers over. A
// request the old image had taken when it exec'd gets no answer (the
// README's limits); those are counted, not failed.
func TestUpgradeNewImageAnswersProbesOnlyOnceItServes(t *testing.T) {
	dir := t.TempDir()
	web, metrics := freeAddr(t), freeAddr(t)
	eps := fmt.Sprintf("endpoint = %q\npubsub_endpoint = %q\nstats_endpoint = %q",
		"ipc://"+dir+"/c.sock", "ipc://"+dir+"/e.sock", "ipc://"+dir+"/s.sock")
	p := startUpgradableOn(t, "ipc://"+dir+"/c.sock", fmt.Sprintf(upgradeListenConfig, eps, web, metrics))
	m := "http://" + metrics
	proctest.Eventually(t, "poold ready", func() bool {
		resp, err := http.Get(m + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	probes := startHTTPProber(http.StatusOK, true, m+"/readyz", m+"/healthz", "http://"+web+"/healthz")
	scrapes := startHTTPProber(http.StatusOK, false, m+"/metrics", m+"/readyz")
	upgrades := 5
	if n, err := strconv.Atoi(os.Getenv("POOLD_TEST_UPGRADES")); err == nil && n > 0 {
		upgrades = n // measuring: POOLD_TEST_UPGRADES=20
	}
	for i := range upgrades {
		o, refused := p.upgrade()
		if refused != nil || o["state"] != "upgraded" {
			probes.end()
			scrapes.end()
			t.Fatalf("upgrade %d: %v %v", i+1, o, refused)
		}
	}
	failed := probes.end()
	for u, errs := range scrapes.end() {
		failed["kept-alive "+u] = errs
	}
	t.Logf("%d upgrades: %d probes and %d scrapes answered, %d and %d cut by the exec", upgrades, probes.ok.Load(), scrapes.ok.Load(), probes.cut.Load(), scrapes.cut.Load())
	if n := probes.cut.Load() + scrapes.cut.Load(); n > 0 {
		t.Errorf("%d requests got no answer (a reset or EOF): an upgrade's exec cut them", n)
	}
	for u, errs := range failed {
		t.Errorf("%s: %d requests answered wrongly, e.g. %q", u, len(errs), errs[:min(len(errs), 3)])
	}
	if probes.ok.Load() == 0 || scrapes.ok.Load() == 0 {
		t.Errorf("the probes were answered %d times, the scrapes %d: want both", probes.ok.Load(), scrapes.ok.Load())
	}
	p.alive()
}
