package web

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/proctest"
)

// heldReply is a client that asked for a big reply, read its status
// line and headers, and reads no more until told.
type heldReply struct {
	c    net.Conn
	resp *http.Response
}

// askHeld sends request on a new connection to addr and reads the
// answer's head only: once it has, the reply's first write has been
// counted (the status leaves with it). The receive buffer is the
// kernel's: one made small stalls a reply resumed after a pause for
// the sender's zero-window probes.
func askHeld(t *testing.T, addr, request string) *heldReply {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(hang))
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReaderSize(c, 4096), nil)
	if err != nil {
		t.Fatal(err)
	}
	return &heldReply{c: c, resp: resp}
}

// readAll reads the rest of the reply slowly (1 MiB every 50 ms) and
// returns its length.
func (h *heldReply) readAll(t *testing.T) int64 {
	t.Helper()
	n, err := readSlowly(progressBound{h.c, h.resp.Body}, 1<<20, 50*time.Millisecond)
	if err != nil {
		t.Fatalf("reading the reply: %d bytes, then %v", n, err)
	}
	return n
}

// progressBound reads r, giving its connection hang more from each
// read: the bound catches a reply that stops, not one that a loaded
// machine (-race, load 50) writes slower than 16 MiB in hang.
type progressBound struct {
	c net.Conn
	r io.Reader
}

func (p progressBound) Read(b []byte) (int, error) {
	_ = p.c.SetDeadline(time.Now().Add(hang))
	return p.r.Read(b)
}

// TestBigRepliesOfOneTokenAreBounded (r55 httpcap): a reply leaves in
// parts, each within writeWait, but a client that reads at the least
// rate keeping it held its whole reply in poold's memory for as long as
// it took, and a token holder could hold as many as it had connections:
// 200 clients reading a 4 MB logs reply at 8 KiB/s took poold from 26 MB
// to 2.1 GB of RSS. Now one token's big replies being read are bounded
// (DefaultRepliesPerToken): past it, the next one is refused with 503,
// Retry-After and a Circus reply saying why, while small replies go on
// and the replies already started are read to their end. Another token
// is not held back by this one's.
func TestBigRepliesOfOneTokenAreBounded(t *testing.T) {
	const (
		view = "view-token-0123456789abcdef"
		ops  = "ops-token-0123456789abcdefgh"
	)
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fake := newFakeBackend(t, map[string]int{"web": 1})
	asked := make(chan string, 16)
	s, err := New(Options{Config: configs.Web{Address: l.Addr().String(), Tokens: []configs.APIToken{
		{Role: configs.RoleReadOnly, Token: view, File: dir + "/view.token"},
		{Role: configs.RoleOperator, Token: ops, File: dir + "/ops.token"},
	}}, Backend: bigLogs{fake, asked}, Events: fake.Events, Stats: fake.Stats})
	if err != nil {
		t.Fatal(err)
	}
	// No client is cut for a stalled part while the test runs, however
	// loaded the machine: only the budget may refuse.
	s.tunings.writeWait = hang
	runServer(t, s, l)
	addr := l.Addr().String()
	logs := func(token string) string {
		return fmt.Sprintf("POST %slogs HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Length: 2\r\n\r\n{}", apiPrefix, addr, token)
	}

	// A reply of 16 MiB and a bit is held; a second would take the view
	// token past its 32 MiB.
	held := askHeld(t, addr, logs(view))
	if held.resp.StatusCode != http.StatusOK {
		t.Fatalf("a big reply of the view token: %s, want 200 (within its budget)", held.resp.Status)
	}
	refused := askHeld(t, addr, logs(view))
	body, _ := io.ReadAll(refused.resp.Body)
	if refused.resp.StatusCode != http.StatusServiceUnavailable || refused.resp.Header.Get("Retry-After") == "" {
		t.Fatalf("a second big reply of the view token: %s, Retry-After %q; want 503 with a delay (over its 32 MiB)",
			refused.resp.Status, refused.resp.Header.Get("Retry-After"))
	}
	var rep map[string]any
	if err := json.Unmarshal(body, &rep); err != nil || rep["status"] != "error" ||
		!strings.Contains(fmt.Sprint(rep["reason"]), "view.token holds 16 MiB of replies") {
		t.Errorf("the refusal: %.300s (%v); want a Circus error reply naming the token and what it holds", body, err)
	}

	// A small reply of the same token, and a big one of another, go on.
	status := askHeld(t, addr, fmt.Sprintf("POST %sstatus HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Length: 2\r\n\r\n{}", apiPrefix, addr, view))
	if status.resp.StatusCode != http.StatusOK {
		t.Errorf("a small reply of the view token, holding half its budget: %s, want 200", status.resp.Status)
	}
	other := askHeld(t, addr, logs(ops))
	if other.resp.StatusCode != http.StatusOK {
		t.Errorf("a big reply of another token: %s, want 200", other.resp.Status)
	}

	// The reply held is read to its end, and then the token has room
	// again.
	if n := held.readAll(t); n < bigReplySize {
		t.Errorf("the big reply read to its end: %d bytes, want over %d", n, bigReplySize)
	}
	proctest.Eventually(t, "a big reply of the view token once it read its other", func() bool {
		return askHeld(t, addr, logs(view)).resp.StatusCode == http.StatusOK
	})
}

// TestBigScrapesOfOneTokenAreBoundedOnMetricsAddress: the same on
// metrics_address, with /metrics written in one piece as the exporter's
// http.TimeoutHandler writes it; the console's listener and it share
// one budget.
func TestBigScrapesOfOneTokenAreBoundedOnMetricsAddress(t *testing.T) {
	const token = "view-token-0123456789abcdef"
	asked := make(chan string, 16)
	replies := NewReplyBudget(0, 0)
	metrics := http.TimeoutHandler(bigMetrics(asked), hang, "timeout")
	p, addr := serveProbeServer(t, ProbeOptions{Token: token, Metrics: metrics, writeWait: hang, Replies: replies})
	proctest.Eventually(t, "the metrics listener to serve", func() bool { return p.serving.Load() != nil })
	scrape := fmt.Sprintf("GET /metrics HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n", addr, token)
	for i := range 2 {
		if h := askHeld(t, addr, scrape); h.resp.StatusCode != http.StatusOK {
			t.Fatalf("scrape %d: %s, want 200 (within the token's budget)", i+1, h.resp.Status)
		}
	}
	refused := askHeld(t, addr, scrape)
	body, _ := io.ReadAll(refused.resp.Body)
	if refused.resp.StatusCode != http.StatusServiceUnavailable || refused.resp.Header.Get("Retry-After") == "" ||
		!strings.Contains(string(body), "token web.token holds 32 MiB") {
		t.Fatalf("a third scrape: %s, Retry-After %q, %.200q; want 503 with a delay, naming the token", refused.resp.Status,
			refused.resp.Header.Get("Retry-After"), body)
	}
	if got := replies.Held(); got < 2*bigReplySize {
		t.Errorf("the shared budget holds %d bytes, want the two scrapes' (%d)", got, 2*bigReplySize)
	}
}

// TestReplyBudget: per key and in all, a key (or everyone) holding
// nothing gets its reply whatever its size, and a reply once started is
// counted without a check.
func TestReplyBudget(t *testing.T) {
	t.Parallel()
	b := NewReplyBudget(10, 25)
	steps := []struct {
		key     string
		n       int64
		check   bool
		refused string
	}{
		{"a", 40, true, ""}, // alone: past both bounds
		{"a", 1, true, "a holds"},
		{"b", 5, true, "the clients of poold's HTTP listeners"},
		{"a", 1, false, ""}, // a reply once started
	}
	for i, st := range steps {
		why := b.take(st.key, st.n, st.check)
		if (st.refused == "") != (why == "") || !strings.Contains(why, st.refused) {
			t.Fatalf("step %d: take(%q, %d, %v) = %q, want %q", i, st.key, st.n, st.check, why, st.refused)
		}
	}
	b.give("a", 41)
	if why := b.take("b", 5, true); why != "" {
		t.Fatalf("b once a let go: %q", why)
	}
	if why := b.take("c", 20, true); why != "" {
		t.Fatalf("c, the total at 5 of 25: %q", why)
	}
	if why := b.take("b", 6, true); !strings.Contains(why, "b holds") {
		t.Fatalf("b past its 10: %q", why)
	}
	if got := b.Held(); got != 25 {
		t.Fatalf("held %d, want 25", got)
	}
}
