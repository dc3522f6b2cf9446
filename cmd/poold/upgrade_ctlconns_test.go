package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/arbiter/controller/ctlclient"
	"github.com/poold/poold/arbiter/wire"
	"github.com/poold/poold/watcher/proctest"
)

// pacedClient sends a request every 5 to 30 ms on one connection, as a
// CircusClient or a pyzmq REQ socket kept open does; a refusal as not
// run (an image about to exec) is sent again on the same connection.
type pacedClient struct {
	c        *ctlclient.Client
	stop     chan struct{}
	wg       sync.WaitGroup
	answered atomic.Int64
	notRun   atomic.Int64
	mu       sync.Mutex
	lost     []string // requests with no answer
}

func startPaced(t *testing.T, ep string) *pacedClient {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := ctlclient.DialContext(ctx, ep)
	if err != nil {
		t.Fatal(err)
	}
	pc := &pacedClient{c: c, stop: make(chan struct{})}
	pc.wg.Add(1)
	go pc.run()
	return pc
}

func (pc *pacedClient) run() {
	defer pc.wg.Done()
	for i := 0; ; i++ {
		t := time.NewTimer(time.Duration(5+rand.IntN(26)) * time.Millisecond)
		select {
		case <-pc.stop:
			t.Stop()
			return
		case <-t.C:
		}
		cmd := []string{"status", "numprocesses", "globaloptions"}[i%3]
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		r, err := pc.c.Do(ctx, arbiter.Request{Command: cmd})
		cancel()
		var ce *arbiter.CommandError
		switch {
		case err == nil:
			pc.answered.Add(1)
		case errors.As(err, &ce) && r[wire.NotRun] == true:
			pc.notRun.Add(1)
		case errors.As(err, &ce):
			pc.answered.Add(1)
		default:
			pc.mu.Lock()
			pc.lost = append(pc.lost, fmt.Sprintf("%s: %v", cmd, err))
			pc.mu.Unlock()
			if errors.Is(err, ctlclient.ErrNotSent) || errors.Is(err, ctlclient.ErrConnLost) {
				return // the connection is gone: nothing more to count
			}
		}
	}
}

// gone reports whether a request went unanswered.
func (pc *pacedClient) gone() bool {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return len(pc.lost) > 0
}

func (pc *pacedClient) end() []string {
	close(pc.stop)
	pc.wg.Wait()
	pc.c.Close()
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return pc.lost
}

// A client on one persistent control connection, sending at its own
// pace, keeps that connection across upgrades and gets an answer to
// every request. Before, the exec closed the connection: the request in
// flight was lost (or, sent just after the endpoint's quiet moment, read
// and never answered), and the client had to dial again.
func TestUpgradeKeepsPersistentControlConnections(t *testing.T) {
	t.Parallel()
	t.Run("ipc", func(t *testing.T) { testPersistentConn(t, startUpgradable(t, fmt.Sprintf(upgradeConfig, 1))) })
	t.Run("tcp", func(t *testing.T) {
		dir := t.TempDir()
		ctl := "tcp://" + freeAddr(t)
		eps := fmt.Sprintf("endpoint = %q\npubsub_endpoint = %q\nstats_endpoint = %q", ctl, "ipc://"+dir+"/e.sock", "ipc://"+dir+"/s.sock")
		testPersistentConn(t, startUpgradableOn(t, ctl, strings.Replace(fmt.Sprintf(upgradeConfig, 1), "ENDPOINTS", eps, 1)))
	})
}

func testPersistentConn(t *testing.T, p *upProc) {
	proctest.Eventually(t, "1 worker", func() bool { return len(p.pids("web")) == 1 })
	pc := startPaced(t, p.endpoint())
	const upgrades = 8
	for i := range upgrades {
		before := pc.answered.Load()
		proctest.Eventually(t, "requests answered", func() bool { return pc.gone() || pc.answered.Load() > before+5 })
		if pc.gone() {
			t.Fatalf("the connection did not survive upgrade %d: %v", i, pc.end())
		}
		out, refused := p.upgrade()
		if refused != nil || out["state"] != "upgraded" {
			pc.end()
			t.Fatalf("upgrade %d: %v %v", i+1, out, refused)
		}
	}
	before := pc.answered.Load()
	proctest.Eventually(t, "requests answered by the last image on the same connection", func() bool {
		return pc.gone() || pc.answered.Load() > before+5
	})
	lost := pc.end()
	t.Logf("%d upgrades: %d requests answered on one connection, %d refused as not run (sent again), %d without an answer",
		upgrades, pc.answered.Load(), pc.notRun.Load(), len(lost))
	if len(lost) > 0 {
		t.Errorf("requests on a persistent connection got no answer across %d upgrades: %v", upgrades, lost)
	}
}

// A cast (no reply) sent on an open connection while the old image hands
// over is run by the new image. Before, the old image read it and its
// loop, about to exec, dropped it.
func TestUpgradeRunsCastSentDuringHandOver(t *testing.T) {
	t.Parallel()
	hold := filepath.Join(t.TempDir(), "hold")
	p := startUpgradable(t, fmt.Sprintf(upgradeConfig, 1), envTestHoldOld+"="+hold)
	proctest.Eventually(t, "1 worker", func() bool { return len(p.pids("web")) == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := ctlclient.DialContext(ctx, p.endpoint())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Do(ctx, arbiter.Request{Command: "status"}); err != nil {
		t.Fatal(err)
	}
	release := holdUpgrade(t, p, hold)
	if _, err := c.Call(ctx, []byte(`{"command": "incr", "properties": {"name": "web"}, "msg_type": "cast"}`)); err != nil {
		t.Fatal(err)
	}
	release()
	waitUpgraded(t, p)
	proctest.Eventually(t, "the cast run: 2 workers", func() bool { return len(p.pids("web")) == 2 })
	r, err := c.Do(ctx, arbiter.Request{Command: "numprocesses", Properties: map[string]any{"name": "web"}})
	if err != nil {
		t.Fatalf("the connection open before the upgrade, after it: %v", err)
	}
	if r["numprocesses"] != float64(2) {
		t.Errorf("numprocesses after the cast: %v, want 2", r["numprocesses"])
	}
}
