package main

import (
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/poold/poold/watcher/proctest"
)

// httpProber asks poold's HTTP surfaces over and over, as an
// orchestrator's probes and a scraper do, and counts the requests that
// got no answer or a wrong one.
type httpProber struct {
	stop   chan struct{}
	wg     sync.WaitGroup
	ok     atomic.Int64
	mu     sync.Mutex
	failed map[string][]string // by URL
}

// startHTTPProber asks each URL in a loop of its own, with a fresh
// connection each time (as the kubelet's probes do) when fresh, else
// on kept-alive connections (as Prometheus does). want is the status
// each URL must answer.
func startHTTPProber(want int, fresh bool, urls ...string) *httpProber {
	pr := &httpProber{stop: make(chan struct{}), failed: map[string][]string{}}
	client := &http.Client{Timeout: hang, Transport: &http.Transport{DisableKeepAlives: fresh}}
	for _, u := range urls {
		repeatUntil(&pr.wg, pr.stop, func() { pr.once(client, u, want) })
	}
	return pr
}

func (pr *httpProber) once(client *http.Client, url string, want int) {
	began := time.Now()
	resp, err := client.Get(url)
	if err == nil {
		var body []byte
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil && resp.StatusCode != want {
			err = fmt.Errorf("status %d, want %d: %q", resp.StatusCode, want, body)
		}
	}
	if err == nil {
		pr.ok.Add(1)
		return
	}
	pr.mu.Lock()
	defer pr.mu.Unlock()
	pr.failed[url] = append(pr.failed[url], fmt.Sprintf("%v after %v", err, time.Since(began).Round(time.Millisecond)))
}

// end stops the prober and returns the failures, by URL.
func (pr *httpProber) end() map[string][]string {
	close(pr.stop)
	pr.wg.Wait()
	return pr.failed
}

// Upgrades in a row while probes (/readyz, /healthz on the metrics
// listener and the console) and scrapes (/metrics) run without a
// pause: every request is answered, and rightly. The old image stops
// taking connections on its HTTP listeners before the exec (their fds
// go over, and what waits in their backlog is the new image's to
// answer) and answers the requests it has taken first: a probe taken
// and then cut by the exec would take a pod out of its Service.
func TestUpgradeAnswersEveryProbeInFlight(t *testing.T) {
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
	const upgrades = 5
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
	t.Logf("%d upgrades: %d probes and %d scrapes answered", upgrades, probes.ok.Load(), scrapes.ok.Load())
	for u, errs := range failed {
		t.Errorf("%s: %d requests not answered right, e.g. %q", u, len(errs), errs[:min(len(errs), 3)])
	}
	if probes.ok.Load() == 0 || scrapes.ok.Load() == 0 {
		t.Errorf("the probes were answered %d times, the scrapes %d: want both", probes.ok.Load(), scrapes.ok.Load())
	}
	p.alive()
}
