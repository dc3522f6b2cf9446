package web

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/proctest"
)

// bigReplySize is more than the kernel's socket buffers of both ends
// hold, so a reply that size waits for its client to read.
const bigReplySize = 16 << 20

// bigLogs answers logs with bigReplySize bytes, as a watcher's ring of
// long lines does; anything else as the fake does.
// Each logs asked for is sent on asked.
type bigLogs struct {
	*fakeBackend
	asked chan<- string
}

func (b bigLogs) Do(ctx context.Context, req arbiter.Request) arbiter.Reply {
	if req.Command == "logs" {
		b.asked <- "logs"
		return arbiter.OK(req.ID, map[string]any{"lines": strings.Repeat("x", bigReplySize)})
	}
	return b.fakeBackend.Do(ctx, req)
}

// stalledClient sends request on a connection to addr and never reads
// the answer.
func stalledClient(t *testing.T, addr, request string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.(*net.TCPConn).SetReadBuffer(4096)
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
}

// TestClientThatStopsReadingIsCut (r54 streamcap, left alone): only
// streams had a write deadline. A holder of any token (a read-only one
// will do) who asked for a big reply (logs, stats of many workers,
// /metrics) and read none of it held the request, its connection and
// the reply's bytes for as long as it liked: enough of them filled the
// listener (a request is never evicted) and poold's memory. A reply now
// goes out in parts, each within writeWait, so a client that stops
// reading is cut, and one that reads slowly still gets all of it.
func TestClientThatStopsReadingIsCut(t *testing.T) {
	const token = "view-token-0123456789abcdef"
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fake := newFakeBackend(t, map[string]int{"web": 1})
	asked := make(chan string, 8)
	s, err := New(Options{Config: configs.Web{Token: token, Address: l.Addr().String()}, Backend: bigLogs{fake, asked},
		Events: fake.Events, Stats: fake.Stats, Metrics: bigMetrics(asked)})
	if err != nil {
		t.Fatal(err)
	}
	s.tunings.writeWait = 300 * time.Millisecond
	runServer(t, s, l)
	addr := l.Addr().String()
	proctest.Eventually(t, "the console to serve", func() bool { return s.serving.Load() != nil })
	cl := s.serving.Load().cl

	body := "{}"
	stalledClient(t, addr, fmt.Sprintf("POST %slogs HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n%s", apiPrefix, addr, token, len(body), body))
	stalledClient(t, addr, fmt.Sprintf("GET /metrics HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n", addr, token))
	waitAsked(t, asked, 2)
	proctest.Eventually(t, "the requests of the clients that stopped reading to end", func() bool {
		return cl.inFlight(time.Now()) == 0
	})

	// A slow reader gets the whole reply.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(hang))
	fmt.Fprintf(c, "POST %slogs HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}", apiPrefix, addr, token)
	resp, err := http.ReadResponse(bufioReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	n, err := readSlowly(resp.Body, 1<<20, 100*time.Millisecond)
	resp.Body.Close()
	if err != nil || n < bigReplySize {
		t.Errorf("a client reading 1 MiB every 100 ms: %d bytes of the reply (%v), want all of it (over %d)", n, err, bigReplySize)
	}
}

// bigMetrics is a /metrics of bigReplySize bytes; each scrape is sent
// on asked.
func bigMetrics(asked chan<- string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked <- "metrics"
		line := strings.Repeat("x", 1023) + "\n"
		for range bigReplySize / len(line) {
			if _, err := io.WriteString(w, line); err != nil {
				return
			}
		}
	})
}

// waitAsked waits for n big replies to be asked for.
func waitAsked(t *testing.T, asked <-chan string, n int) {
	t.Helper()
	for range n {
		select {
		case <-asked:
		case <-time.After(hang):
			t.Fatalf("waited %v for %d big replies to be asked for", hang, n)
		}
	}
}

// TestMetricsClientThatStopsReadingIsCut: the same on metrics_address.
func TestMetricsClientThatStopsReadingIsCut(t *testing.T) {
	const token = "view-token-0123456789abcdef"
	asked := make(chan string, 1)
	p, addr := serveProbeServer(t, ProbeOptions{Token: token, Metrics: bigMetrics(asked), writeWait: 300 * time.Millisecond})
	proctest.Eventually(t, "the metrics listener to serve", func() bool { return p.serving.Load() != nil })
	stalledClient(t, addr, fmt.Sprintf("GET /metrics HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n", addr, token))
	waitAsked(t, asked, 1)
	cl := p.serving.Load().cl
	proctest.Eventually(t, "the scrape of the client that stopped reading to end", func() bool {
		return cl.inFlight(time.Now()) == 0
	})
}

func bufioReader(c net.Conn) *bufio.Reader { return bufio.NewReader(c) }

// readSlowly reads r to its end by n bytes every d, as a client on a
// slow link, and returns how many it read.
func readSlowly(r io.Reader, n int64, d time.Duration) (int64, error) {
	tick := time.NewTicker(d)
	defer tick.Stop()
	var got int64
	for {
		<-tick.C
		m, err := io.CopyN(io.Discard, r, n)
		got += m
		if err == io.EOF {
			return got, nil
		}
		if err != nil {
			return got, err
		}
	}
}
