package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/poold/poold/web/remote"
)

// An upgrade with a console's websocket and an API event stream open:
// each ends at once and cleanly at the hand-over (the websocket with a
// close frame 1012, service restart; the SSE response with its end, not
// a reset), so the console and `poolctl events --url` reconnect, and
// neither holds the upgrade up. A wait for them held every upgrade for
// its whole 5 s bound (reverted in 3fb5326).
func TestUpgradeEndsStreamsAtOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	web, metrics := freeAddr(t), freeAddr(t)
	eps := fmt.Sprintf("endpoint = %q\npubsub_endpoint = %q\nstats_endpoint = %q",
		"ipc://"+dir+"/c.sock", "ipc://"+dir+"/e.sock", "ipc://"+dir+"/s.sock")
	config := strings.Replace(fmt.Sprintf(upgradeListenConfig, eps, web, metrics), "[web]\n", "[web]\ntoken = \"s3cret-token-of-the-test\"\n", 1)
	p := startUpgradableOn(t, "ipc://"+dir+"/c.sock", config)
	auth := http.Header{"Authorization": {"Bearer s3cret-token-of-the-test"}}

	req, _ := http.NewRequest("GET", "http://"+web+"/api/v1/events", nil)
	req.Header = auth.Clone()
	resp, err := (&http.Client{Timeout: hang}).Do(req)
	if err != nil {
		t.Fatalf("GET /api/v1/events: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v1/events: status %d", resp.StatusCode)
	}
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+web+"/ws", auth)
	if err != nil {
		t.Fatalf("websocket: %v", err)
	}
	defer ws.Close()
	sseEnd, wsEnd := make(chan error, 1), make(chan error, 1)
	var tail bytes.Buffer // what the stream said last
	go func() {
		_, err := io.Copy(&tail, bufio.NewReader(resp.Body))
		sseEnd <- err
	}()
	go func() {
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				wsEnd <- err
				return
			}
		}
	}()

	began := time.Now()
	if o, refused := p.upgrade(); refused != nil || o["state"] != "upgraded" {
		t.Fatalf("upgrade: %v %v", o, refused)
	}
	t.Logf("upgrade with an SSE stream and a websocket open took %v", time.Since(began).Round(time.Millisecond))
	select {
	case err := <-sseEnd:
		if err != nil {
			t.Errorf("the event stream ended with %v, want a clean end (EOF) its client resumes from", err)
		}
		if !bytes.HasSuffix(tail.Bytes(), []byte(": "+remote.UpgradingComment+"\n\n")) {
			t.Errorf("the event stream's end says nothing of the upgrade: ...%q", tail.Bytes()[max(0, tail.Len()-100):])
		}
	case <-time.After(hang):
		t.Fatal("the event stream did not end")
	}
	select {
	case err := <-wsEnd:
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.CloseServiceRestart {
			t.Errorf("the websocket ended with %v, want a close frame %d (service restart) the console reconnects from", err, websocket.CloseServiceRestart)
		}
	case <-time.After(hang):
		t.Fatal("the websocket did not end")
	}
	p.alive()
}
