package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/poold/poold/watcher/proctest"
)

// httpRig is a poold with its console (and API) and metrics listeners.
type httpRig struct {
	t            *testing.T
	p            *upProc
	web, metrics string
	auth         http.Header
	client       *http.Client
	hold         string
}

const httpRigToken = "s3cret-token-of-the-test"

func startHTTPRig(t *testing.T) *httpRig {
	dir := t.TempDir()
	r := &httpRig{t: t, web: freeAddr(t), metrics: freeAddr(t), hold: filepath.Join(dir, "hold"),
		auth:   http.Header{"Authorization": {"Bearer " + httpRigToken}},
		client: &http.Client{Timeout: hang, Transport: &http.Transport{DisableKeepAlives: true}}}
	eps := fmt.Sprintf("endpoint = %q\npubsub_endpoint = %q\nstats_endpoint = %q",
		"ipc://"+dir+"/c.sock", "ipc://"+dir+"/e.sock", "ipc://"+dir+"/s.sock")
	config := strings.Replace(fmt.Sprintf(upgradeListenConfig, eps, r.web, r.metrics), "[web]\n", "[web]\ntoken = \""+httpRigToken+"\"\n", 1)
	r.p = startUpgradableOn(t, "ipc://"+dir+"/c.sock", config, envTestHoldOld+"="+r.hold)
	return r
}

// get GETs url with the token and returns the status and body.
func (r *httpRig) get(url string) (int, string) {
	r.t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header = r.auth.Clone()
	resp, err := r.client.Do(req)
	if err != nil {
		r.t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// During a hand-over, /readyz and /metrics answer from the state as the
// hand-over began, not from whatever snapshot an HTTP caller last took:
// here the only one before is the exporter's at start, with 1 worker.
func TestHandOverAnswersWithTheStateItBeganWith(t *testing.T) {
	t.Parallel()
	r := startHTTPRig(t)
	r.p.do("incr", map[string]any{"name": "web", "nb": 2}) // through the control endpoint, not HTTP
	proctest.Eventually(t, "3 workers", func() bool { return len(r.p.pids("web")) == 3 })
	release := holdUpgrade(t, r.p, r.hold)
	if code, body := r.get("http://" + r.metrics + "/readyz"); code != http.StatusOK {
		t.Errorf("/readyz during the hand-over: %d %s", code, body)
	}
	code, body := r.get("http://" + r.metrics + "/metrics")
	if want := `poold_pool_desired_workers{pool="web"} 3`; code != http.StatusOK || !strings.Contains(body, want) {
		t.Errorf("/metrics during the hand-over: status %d, want %q in:\n%s", code, want, grepLines(body, "poold_pool_desired_workers", "poold_"))
	}
	// The upgrade ends before the test stops poold: a SIGTERM that comes
	// just before the exec is lost (poold logs that it stops, then execs
	// and runs on; left open, r59), and the cleanup's 30 s bound killed it.
	release()
	waitUpgraded(t, r.p)
}

// grepLines is body's lines containing sub, or its first lines with
// prefix when none does.
func grepLines(body, sub, prefix string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	if len(out) == 0 {
		for _, l := range strings.Split(body, "\n") {
			if strings.HasPrefix(l, prefix) && len(out) < 20 {
				out = append(out, l)
			}
		}
	}
	return strings.Join(out, "\n")
}

// An upgrade whose exec fails: poold goes on as it was, and so does its
// HTTP side. Its listeners accept again, probes and scrapes answer, the
// console's websocket (closed 1012 at the hand-over) and the API's event
// stream reconnect, and an API command runs.
func TestFailedExecResumesHTTP(t *testing.T) {
	t.Parallel()
	r := startHTTPRig(t)
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+r.web+"/ws", r.auth)
	if err != nil {
		t.Fatalf("websocket: %v", err)
	}
	defer ws.Close()
	wsEnd := make(chan error, 1)
	go func() {
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				wsEnd <- err
				return
			}
		}
	}()
	r.p.install(pooldBinary(t)) // a file no process runs: it can be opened to write
	release := holdUpgrade(t, r.p, r.hold)
	// The exec fails: the binary is open for writing (ETXTBSY). The
	// upgrade execs the file its pre-flight checked, whatever is at its
	// path by then: moving it away no longer fails the exec.
	w, err := os.OpenFile(r.p.exe, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	release()
	proctest.Eventually(t, "the upgrade refused", func() bool {
		o := r.p.outcome()
		return o["state"] == "refused"
	})
	w.Close()
	if o := r.p.outcome(); !contains(fmt.Sprint(o["reason"]), "text file busy", r.p.exe) {
		t.Errorf("the failed exec's reason: %v, want ETXTBSY and the binary's path", o["reason"])
	}
	select {
	case err := <-wsEnd:
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.CloseServiceRestart {
			t.Errorf("the websocket ended with %v, want a close frame %d at the hand-over", err, websocket.CloseServiceRestart)
		}
	case <-time.After(hang):
		t.Fatal("the websocket did not end at the hand-over")
	}
	for _, u := range []string{"http://" + r.metrics + "/healthz", "http://" + r.metrics + "/readyz",
		"http://" + r.metrics + "/metrics", "http://" + r.web + "/metrics"} {
		if code, body := r.get(u); code != http.StatusOK {
			t.Errorf("GET %s after the failed exec: %d %s", u, code, body)
		}
	}
	r.resumedStreams()
	req, _ := http.NewRequest("POST", "http://"+r.web+"/api/v1/incr", strings.NewReader(`{"name":"web"}`))
	req.Header = r.auth.Clone()
	resp, err := r.client.Do(req)
	if err != nil {
		t.Fatalf("POST /api/v1/incr after the failed exec: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /api/v1/incr after the failed exec: %d %s", resp.StatusCode, b)
	}
	proctest.Eventually(t, "the incr run: 2 workers", func() bool { return len(r.p.pids("web")) == 2 })
}

// resumedStreams checks that a new websocket and a new event stream are
// served: a hand-over that did not happen leaves none ended at once.
func (r *httpRig) resumedStreams() {
	t := r.t
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+r.web+"/ws", r.auth)
	if err != nil {
		t.Fatalf("websocket after the failed exec: %v", err)
	}
	defer ws.Close()
	ws.SetReadDeadline(time.Now().Add(hang))
	if _, msg, err := ws.ReadMessage(); err != nil || !strings.Contains(string(msg), `"hello"`) {
		t.Fatalf("websocket after the failed exec: %v %.200s", err, msg)
	}
	req, _ := http.NewRequest("GET", "http://"+r.web+"/api/v1/events?since=0", nil)
	req.Header = r.auth.Clone()
	resp, err := r.client.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v1/events after the failed exec: %v %v", resp, err)
	}
	defer resp.Body.Close()
	// It replays what poold keeps (since=0): its first line comes at once.
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil {
		t.Fatalf("event stream after the failed exec: %q %v", line, err)
	}
}
