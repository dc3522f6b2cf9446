package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/arbiter/controller/ctlclient"
)

const webConfig = `
[arbiter]
ENDPOINTS
[web]
enabled = true
address = %q
token = %q
`

// consoleStatus is the HTTP status of GET / with token as bearer.
func consoleStatus(t *testing.T, addr, token string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// openConsole opens the console's websocket by hand (websockets are the
// web package's library) and returns the connection after the 101.
func openConsole(t *testing.T, addr, token string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer %s\r\n\r\n", addr, token)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	status, err := bufio.NewReader(io.LimitReader(c, int64(len("HTTP/1.1 101")))).ReadString('\n')
	if !strings.HasPrefix(status, "HTTP/1.1 101") {
		t.Fatalf("websocket upgrade: %q, %v", status, err)
	}
	return c
}

// closedWithPolicyViolation reads c to its end and reports whether a close
// frame with code 1008 came (what the console sends when its access is
// replaced).
func closedWithPolicyViolation(t *testing.T, c net.Conn) bool {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(hang))
	all, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("console websocket still open %v after the reload: %v", hang, err)
	}
	for i := bytes.IndexByte(all, 0x88); i >= 0 && i+3 < len(all); i++ {
		if all[i] == 0x88 && all[i+1] < 126 && all[i+2] == 0x03 && all[i+3] == 0xF0 {
			return true
		}
	}
	return false
}

// Issue 13, defect 5: a changed [web] token applies on reload (SIGHUP
// here): the console opened with the old token is closed, the old token
// is refused and the new one accepted. A changed [web] address cannot
// apply without a restart, and reloadconfig says so.
func TestReloadAppliesWebTokenAndReportsRestart(t *testing.T) {
	p := startPoold(t, fmt.Sprintf(webConfig, "127.0.0.1:0", "old-token"))
	addr := p.waitLog(`web console listening: address=(\S+)`, 1)[0][1]
	if code := consoleStatus(t, addr, "old-token"); code != http.StatusOK {
		t.Fatalf("GET / with the token: %d", code)
	}
	ws := openConsole(t, addr, "old-token")

	writeConfig(t, p.dir, fmt.Sprintf(webConfig, "127.0.0.1:0", "new-token"))
	p.signal(syscall.SIGHUP)
	p.waitLog(`config reloaded`, 1)
	if !closedWithPolicyViolation(t, ws) {
		t.Error("console opened with the old token ended without close code 1008")
	}
	if code := consoleStatus(t, addr, "old-token"); code != http.StatusUnauthorized {
		t.Errorf("GET / with the old token after the reload: %d, want 401", code)
	}
	if code := consoleStatus(t, addr, "new-token"); code != http.StatusOK {
		t.Errorf("GET / with the new token after the reload: %d, want 200", code)
	}

	writeConfig(t, p.dir, fmt.Sprintf(webConfig, "127.0.0.1:1", "new-token"))
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	c, err := ctlclient.DialContext(ctx, "ipc://"+p.dir+"/c.sock")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r, err := c.Do(ctx, arbiter.Request{Command: "reloadconfig", Properties: map[string]any{"waiting": true}})
	if err != nil {
		t.Fatalf("reloadconfig: %v", err)
	}
	if got := fmt.Sprint(r["restart_needed"]); got != "[web.address]" {
		t.Errorf("reloadconfig restart_needed %s, want [web.address]; reply %v", got, r)
	}
	p.waitLog(`restart_needed=web.address`, 1)
	if code := consoleStatus(t, addr, "new-token"); code != http.StatusOK {
		t.Errorf("console on its old address after a reload that needs a restart: %d, want 200", code)
	}
}

// TestStartWarnsOfAMissingProgram: poold starts beside a watcher whose
// program is missing, as circusd does, but says so at start (poold
// --check refuses the same file), and a reload that leaves that watcher
// alone applies.
func TestStartWarnsOfAMissingProgram(t *testing.T) {
	const conf = `
[arbiter]
ENDPOINTS
[watchers.web]
cmd = @WORKER@
env = ["POOLD_TEST_WORKER=serve"]
numprocesses = %d
[watchers.optional]
cmd = "/nonexistent/poold-test/not-deployed-yet"
`
	p := startPoold(t, fmt.Sprintf(conf, 1))
	p.waitLog(`cannot start as configured.*watchers\.optional\.cmd: /nonexistent/poold-test/not-deployed-yet`, 1)
	writeConfig(t, p.dir, fmt.Sprintf(conf, 2))
	c, err := ctlclient.DialContext(context.Background(), "ipc://"+p.dir+"/c.sock")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	r, err := c.Do(ctx, arbiter.Request{Command: "reloadconfig", Properties: map[string]any{"waiting": true}})
	if err != nil || r["status"] != "ok" {
		t.Fatalf("reloadconfig scaling web: %v %v, want ok", r, err)
	}
}

// TestReloadRemovesAWatcherItsEnvironmentOverrides: poold started with
// POOLD_WATCHERS_W2_NUMPROCESSES in its environment (as a systemd unit's
// Environment= would), then w2 leaves the file. The reload applies, the
// override is ignored with one warning naming it, however many reloads
// follow; it used to refuse every reload until poold restarted.
func TestReloadRemovesAWatcherItsEnvironmentOverrides(t *testing.T) {
	const both = `
[arbiter]
ENDPOINTS
[watchers.web]
cmd = "/bin/sleep 1000"
[watchers.w2]
cmd = "/bin/sleep 1000"
`
	t.Setenv("POOLD_WATCHERS_W2_NUMPROCESSES", "2")
	p := startPoold(t, both)
	p.waitLog(`poold started`, 1)
	writeConfig(t, p.dir, strings.TrimSuffix(both, "[watchers.w2]\ncmd = \"/bin/sleep 1000\"\n"))
	c, err := ctlclient.DialContext(context.Background(), "ipc://"+p.dir+"/c.sock")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	for i := range 2 {
		r, err := c.Do(ctx, arbiter.Request{Command: "reloadconfig", Properties: map[string]any{"waiting": true}})
		if err != nil || r["status"] != "ok" {
			t.Fatalf("reloadconfig %d without w2: %v %v, want ok", i+1, r, err)
		}
	}
	r, err := c.Do(ctx, arbiter.Request{Command: "list"})
	if err != nil || fmt.Sprint(r["watchers"]) != "[web]" {
		t.Fatalf("list after the reloads: %v %v, want watchers [web]", r, err)
	}
	warn := `config reload warning: warning=".*environment variable POOLD_WATCHERS_W2_NUMPROCESSES: ignored: the file has no watcher \\"w2\\"`
	p.waitLog(warn, 1)
	if n := len(regexp.MustCompile(warn).FindAllString(p.log.String(), -1)); n != 1 {
		t.Errorf("the warning was logged %d times over two reloads, want once", n)
	}
}
