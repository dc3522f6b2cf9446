package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/poold/poold/watcher/proctest"
)

// probeRig is a poold with its console and metrics listeners, started
// with env (the test holds it asks for), its worker ready.
type probeRig struct {
	p            *upProc
	web, metrics string // http://host:port
}

func startProbeRig(t *testing.T, env ...string) probeRig {
	t.Helper()
	dir := t.TempDir()
	web, metrics := freeAddr(t), freeAddr(t)
	eps := fmt.Sprintf("endpoint = %q\npubsub_endpoint = %q\nstats_endpoint = %q",
		"ipc://"+dir+"/c.sock", "ipc://"+dir+"/e.sock", "ipc://"+dir+"/s.sock")
	r := probeRig{p: startUpgradableOn(t, "ipc://"+dir+"/c.sock", fmt.Sprintf(upgradeListenConfig, eps, web, metrics), env...),
		web: "http://" + web, metrics: "http://" + metrics}
	proctest.Eventually(t, "poold ready", func() bool {
		resp, err := http.Get(r.metrics + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return r
}

// probeURLs are what an orchestrator's probes and a scraper ask.
func (r probeRig) probeURLs() []string {
	return []string{r.metrics + "/readyz", r.metrics + "/healthz", r.web + "/healthz", r.metrics + "/metrics"}
}

// probeAnswer is one request of a probe and what it got.
type probeAnswer struct {
	url       string
	sent, end time.Time
	code      int
	body      string
	err       error // no answer: a reset, an EOF
}

func (a probeAnswer) String() string {
	if a.err != nil {
		return fmt.Sprintf("%s sent %s, no answer at %s: %v", a.url, a.sent.Format("15:04:05.000"), a.end.Format("15:04:05.000"), a.err)
	}
	return fmt.Sprintf("%s sent %s, answered %s: %d %q", a.url, a.sent.Format("15:04:05.000"), a.end.Format("15:04:05.000"), a.code, a.body)
}

// httpProber asks each of its URLs in a loop of its own, as an
// orchestrator's probes and a scraper do, and keeps what each request
// got.
type httpProber struct {
	client *http.Client
	stop   chan struct{}
	wg     sync.WaitGroup
	mu     sync.Mutex
	got    []probeAnswer
	// by URL: when the request in flight was sent, and the last one
	// that ended
	out, done map[string]time.Time
}

// startHTTPProber asks urls with client (fresh connections each time,
// as the kubelet's probes, or kept alive, as Prometheus's scrapes).
func startHTTPProber(client *http.Client, urls ...string) *httpProber {
	pr := &httpProber{client: client, stop: make(chan struct{}), out: map[string]time.Time{}, done: map[string]time.Time{}}
	for _, u := range urls {
		pr.done[u] = time.Time{}
		repeatUntil(&pr.wg, pr.stop, func() { pr.once(u) })
	}
	return pr
}

func (pr *httpProber) once(url string) {
	req, _ := http.NewRequest("GET", url, nil)
	pr.mu.Lock()
	pr.out[url] = time.Now()
	pr.mu.Unlock()
	a := getProbe(pr.client, req)
	pr.mu.Lock()
	defer pr.mu.Unlock()
	pr.got = append(pr.got, a)
	pr.done[url] = a.sent
}

// answeredSince: each URL has had a request sent at t or later that
// ended.
func (pr *httpProber) answeredSince(t time.Time) bool {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	for _, sent := range pr.done {
		if sent.Before(t) {
			return false
		}
	}
	return true
}

// waited: each URL has had a request in flight for d, or one sent at
// t or later has ended.
func (pr *httpProber) waited(t time.Time, d time.Duration) bool {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	for u, done := range pr.done {
		inFlight := !pr.out[u].Equal(done)
		if !done.Before(t) || inFlight && time.Since(pr.out[u]) >= d {
			continue
		}
		return false
	}
	return true
}

// end stops the prober and returns what every request got.
func (pr *httpProber) end() []probeAnswer {
	close(pr.stop)
	pr.wg.Wait()
	return pr.got
}

// tracedConnect is a GET of url that calls connected once its
// connection is made (or failed).
func tracedConnect(url string, connected func()) *http.Request {
	req, _ := http.NewRequest("GET", url, nil)
	return req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		ConnectDone: func(string, string, error) { connected() }}))
}

// getProbe sends req with client.
func getProbe(client *http.Client, req *http.Request) probeAnswer {
	a := probeAnswer{url: req.URL.String(), sent: time.Now()}
	resp, err := client.Do(req)
	if err == nil {
		var b []byte
		b, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		a.code, a.body = resp.StatusCode, string(b)
	}
	a.end, a.err = time.Now(), err
	return a
}

func freshClient() *http.Client {
	return &http.Client{Timeout: hang, Transport: &http.Transport{DisableKeepAlives: true}}
}

// An upgrade's exec step blocks the old image's loop from its start: it
// binds ahead what the new image needs, waits for the log readers (up to
// 5 s each on a slow disk), holds the control endpoints, and only then
// hands the HTTP listeners over. The probes were answered without the
// loop only from that last step: one earlier waited for the loop and got
// a 503 after a second (/readyz "did not answer"), or a "busy" /healthz
// that turns "stuck" past StuckAfter: a healthy pod out of its Service,
// or restarted, for an upgrade. They are answered, from the state as the
// exec step began, from its start.
func TestExecStepAnswersProbesFromItsStart(t *testing.T) {
	t.Parallel()
	hold := filepath.Join(t.TempDir(), "hold")
	r := startProbeRig(t, envTestHoldBind+"="+hold)
	release := holdUpgrade(t, r.p, hold) // the loop blocked at the exec step's start
	want := map[string]string{r.metrics + "/readyz": "ready\n", r.metrics + "/healthz": "ok\n", r.web + "/healthz": "ok\n"}
	for _, u := range r.probeURLs() {
		req, _ := http.NewRequest("GET", u, nil)
		a := getProbe(freshClient(), req)
		if body, ok := want[u]; a.err != nil || a.code != http.StatusOK || (ok && a.body != body) {
			t.Errorf("during the exec step: %v; want 200 %q", a, body)
		}
	}
	// the step warnings name it as what it is, not "a read of poold's state"
	proctest.Eventually(t, "a WARN naming the upgrade's exec step", func() bool {
		return strings.Contains(r.p.log.String(), `step="upgrade's exec step (binding ahead, the hand-over, the exec)"`)
	})
	release()
	waitUpgraded(t, r.p)
}

// An upgrade's new image makes its HTTP listeners (the old image's,
// taken over) before its loop is up: it takes the workers over first,
// seconds on a busy machine. A probe it answered then waited for the
// loop and got a 503 after a second. It waits in the listener's backlog
// instead and is answered once the loop is up.
//
// "Not answered" is watched for three times the probes' 1 s bound: an
// image that served early answers 503 well within it.
func TestNewImageAnswersProbesOnceItsLoopIsUp(t *testing.T) {
	t.Parallel()
	hold := filepath.Join(t.TempDir(), "hold")
	r := startProbeRig(t, envTestHoldUp+"="+hold)
	release := holdUpgrade(t, r.p, hold) // the new image's listeners made, its loop not up
	urls := r.probeURLs()
	answers := make(chan probeAnswer, len(urls))
	var connected sync.WaitGroup
	for _, u := range urls {
		connected.Add(1)
		var once sync.Once
		req := tracedConnect(u, func() { once.Do(connected.Done) })
		go func() { answers <- getProbe(freshClient(), req) }()
	}
	connected.Wait() // each in the backlog (or served at once: the regression)
	window := time.After(3 * time.Second)
	var early []probeAnswer
watch:
	for len(early) < len(urls) {
		select {
		case a := <-answers:
			early = append(early, a)
		case <-window:
			break watch
		}
	}
	for _, a := range early {
		t.Errorf("answered while the new image's loop was not up: %v", a)
	}
	released := time.Now()
	release()
	for range len(urls) - len(early) {
		if a := <-answers; a.err != nil || a.code != http.StatusOK || a.end.Before(released) {
			t.Errorf("once the loop was let up (%s): %v; want 200", released.Format("15:04:05.000"), a)
		}
	}
	waitUpgraded(t, r.p)
}

// Upgrades in a row while probes (/readyz, /healthz on the metrics
// listener and the console) and scrapes (/metrics) run without a pause.
// Each upgrade is held twice, so its hand-over windows are wide and
// certain: the old image at the start of its exec step (its loop
// blocked from there to the exec) and the new image with its listeners
// made and its loop not up. Every request sent once the old image is
// held and answered before the new image's loop is let up is answered
// right (200): the old image answers without its loop, the new one
// only once its loop is up. Each URL is answered in the first hold and
// waits in the second, at least 3 s, or is answered (wrongly).
//
// Outside those windows a probe meets the loop in its steady state,
// where a 503 "did not answer" is the product's answer for a loop that
// did no countable work for the probes' 1 s bound (web/health.go): one
// starved of CPU that long, or, for /readyz, one in a single long step
// (/healthz calls that busy; /readyz does not, yet: every such 503 seen
// at load 60 to 230 was /readyz's). Counted and logged, not failed.
// Any other wrong answer fails, and so does a request with no answer (a
// reset, an EOF) beyond those poold's log says the exec cut.
func TestUpgradeNewImageAnswersProbesOnlyOnceItServes(t *testing.T) {
	dir := t.TempDir()
	holdBind, holdUp := filepath.Join(dir, "hold-bind"), filepath.Join(dir, "hold-up")
	r := startProbeRig(t, envTestHoldBind+"="+holdBind, envTestHoldUp+"="+holdUp)
	m := r.metrics
	pr := startHTTPProber(freshClient(), m+"/readyz", m+"/healthz", r.web+"/healthz")
	scrapes := startHTTPProber(&http.Client{Timeout: hang}, m+"/metrics", m+"/readyz") // kept alive, as Prometheus does
	upgrades := 5
	if n, err := strconv.Atoi(os.Getenv("POOLD_TEST_UPGRADES")); err == nil && n > 0 {
		upgrades = n // measuring: POOLD_TEST_UPGRADES=20
	}
	var windows [][2]time.Time
	for i := range upgrades {
		w, ok := heldUpgrade(t, r.p, holdBind, holdUp, pr, scrapes)
		windows = append(windows, w)
		if !ok {
			pr.end()
			scrapes.end()
			t.Fatalf("upgrade %d: %v", i+1, r.p.outcome())
		}
	}
	all := append(pr.end(), scrapes.end()...)
	inWindow := func(a probeAnswer) bool {
		for _, w := range windows {
			if !a.sent.Before(w[0]) && !a.end.After(w[1]) {
				return true
			}
		}
		return false
	}
	var held, ok, starved, cut int
	for _, a := range all {
		in := inWindow(a)
		if in {
			held++
		}
		switch {
		case a.err != nil:
			cut++
			t.Logf("no answer: %v", a)
		case a.code == http.StatusOK:
			ok++
		case !in && loopBoundAnswer(a):
			starved++
			t.Logf("the loop did not answer within the probes' bound (steady state): %v", a)
		default:
			t.Errorf("answered wrongly (in a hand-over window: %v): %v", in, a)
		}
	}
	owned := cutLogged(r.p.log.String())
	t.Logf("%d upgrades: %d requests, %d in the hand-over windows; %d answered 200, %d 503 by the loop's bound outside them; %d cut by the exec (poold's log owns %d)",
		upgrades, len(all), held, ok, starved, cut, owned)
	if cut > owned {
		t.Errorf("%d requests got no answer (a reset or EOF), poold's log says it cut %d", cut, owned)
	}
	r.p.alive()
}

// loopBoundAnswer: a probe's 503 for a loop that did not answer within
// the probes' bound and did no work meanwhile.
func loopBoundAnswer(a probeAnswer) bool {
	return a.code == http.StatusServiceUnavailable &&
		(strings.Contains(a.body, "poold's event loop did not answer within 1s and did no work meanwhile") ||
			strings.Contains(a.body, "not ready: poold's event loop did not answer: context deadline exceeded"))
}

// cutLogged sums the requests poold's log says an exec cut.
func cutLogged(log string) int {
	n := 0
	for _, l := range strings.Split(log, "\n") {
		if !strings.Contains(l, "HTTP requests still unanswered") {
			continue
		}
		_, v, _ := strings.Cut(l, "requests=")
		if k, err := strconv.Atoi(strings.Fields(v + " ")[0]); err == nil {
			n += k
		}
	}
	return n
}

// heldUpgrade upgrades p, holding the old image at the start of its exec
// step and the new one before its loop is up, each until every URL of
// the probers was asked meanwhile; it returns the window from the first
// hold to the new loop's release, and whether the upgrade was done.
func heldUpgrade(t *testing.T, p *upProc, holdBind, holdUp string, probers ...*httpProber) ([2]time.Time, bool) {
	t.Helper()
	last := p.outcome()["id"].(float64)
	for _, h := range []string{holdBind, holdUp} {
		if err := os.WriteFile(h, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	asked := make(chan struct{})
	go func() { defer close(asked); _, _ = p.try("upgrade", nil) }()
	var w [2]time.Time
	held := func(h string) bool { _, err := os.Stat(h); return os.IsNotExist(err) }
	proctest.Eventually(t, "the old image held in its exec step", func() bool { return held(holdBind) })
	w[0] = time.Now()
	for _, pr := range probers {
		proctest.Eventually(t, "each URL answered by the held old image", func() bool { return pr.answeredSince(w[0]) })
	}
	if err := os.WriteFile(holdBind+".go", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	proctest.Eventually(t, "the new image held before its loop is up", func() bool { return held(holdUp) })
	up := time.Now()
	for _, pr := range probers {
		// Three times the probes' bound: an image that served before
		// its loop was up answers 503 well within it. One asked
		// before the hold waits in the listener's backlog (the new
		// image took it over) as well.
		proctest.Eventually(t, "each URL asked of the held new image", func() bool { return pr.waited(up, 3*time.Second) })
	}
	w[1] = time.Now()
	if err := os.WriteFile(holdUp+".go", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	<-asked
	var o map[string]any
	proctest.Eventually(t, "the upgrade's outcome", func() bool {
		r, err := p.try("upgrade_status", nil)
		o, _ = r["upgrade"].(map[string]any)
		return err == nil && o["id"].(float64) > last && o["state"] != "upgrading"
	})
	return w, o["state"] == "upgraded"
}
