package web

import (
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/proctest"
)

// TestIdleConnectionsMakeRoom: anyone who reaches the console's or the
// metrics listener's port could hold connections open, as many as poold
// has file descriptors, which its workers need too; so both are bounded.
// At the bound, the connection that waited longest for a request is
// closed for a newcomer: a flood of idle connections must not lock out a
// liveness probe or an operator.
func TestIdleConnectionsMakeRoom(t *testing.T) {
	t.Parallel()
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
			for range limit + 2 {
				cl := &http.Client{Transport: &http.Transport{}}
				t.Cleanup(cl.CloseIdleConnections)
				if err := getOn(cl, url); err != nil {
					t.Fatalf("a request with %d idle connections open (bound %d): %v", limit, limit, err)
				}
			}
		})
	}
}

// TestBusyConnectionsAreBounded: when every connection the bound allows
// is serving a request, a newcomer is closed at once; once one ends,
// requests are served again.
func TestBusyConnectionsAreBounded(t *testing.T) {
	const limit = 3
	entered, release := make(chan struct{}), make(chan struct{})
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
	})
	base := serveProbes(t, ProbeOptions{Metrics: slow, Health: &fakeHealth{}, maxConns: limit})
	var wg sync.WaitGroup
	defer wg.Wait()
	for range limit {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = getOn(&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}, base+"/metrics")
		}()
		<-entered
	}
	fresh := func() error {
		return getOn(&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}, base+"/healthz")
	}
	if err := fresh(); err == nil {
		close(release)
		t.Fatalf("a request past the bound of %d connections all serving requests was served", limit)
	}
	close(release)
	proctest.Eventually(t, "a request to be served once the busy ones ended", func() bool { return fresh() == nil })
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
