package web

import (
	"io"
	"net/http"
	"testing"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/proctest"
)

// TestConnectionsAreBounded: anyone who reaches the console's or the
// metrics listener's port could hold connections open, as many as poold
// has file descriptors, which its workers' sockets, pipes and pidfds need
// too. Past the bound a new connection is closed at once; once held ones
// close, requests are served again.
func TestConnectionsAreBounded(t *testing.T) {
	const limit = 3
	for _, c := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"console", func(t *testing.T) string {
			return startServer(t, newFakeBackend(t, map[string]int{"web": 1}), configs.Web{Enabled: true}, func(tu *tunings) { tu.maxConns = limit }).url + "/"
		}},
		{"metrics and health", func(t *testing.T) string {
			return serveProbes(t, ProbeOptions{Health: &fakeHealth{}, maxConns: limit}) + "/healthz"
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			url := c.url(t)
			// Each holder keeps its connection open (keep-alive) once
			// answered, so the server has accepted all of them.
			var holders []*http.Client
			for range limit {
				cl := &http.Client{Transport: &http.Transport{}}
				t.Cleanup(cl.CloseIdleConnections)
				if err := getOn(cl, url); err != nil {
					t.Fatalf("request within the bound of %d: %v", limit, err)
				}
				holders = append(holders, cl)
			}
			fresh := func() error {
				cl := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
				return getOn(cl, url)
			}
			if err := fresh(); err == nil {
				t.Fatalf("a request past the bound of %d open connections was served", limit)
			}
			holders[0].CloseIdleConnections()
			proctest.Eventually(t, "a request to be served once a held connection closed", func() bool { return fresh() == nil })
		})
	}
}

// getOn sends a GET with cl and reads the whole answer, whatever its
// status, so that cl may keep the connection.
func getOn(cl *http.Client, url string) error {
	resp, err := cl.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}
