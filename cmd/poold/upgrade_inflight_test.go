package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/arbiter/controller/ctlclient"
	"github.com/poold/poold/arbiter/wire"
	"github.com/poold/poold/watcher/proctest"
)

// ctlLoad sends control requests back to back on one connection, dialling
// again when it is lost, until stopped; it counts what became of them.
type ctlLoad struct {
	ep                     string
	stop                   chan struct{}
	wg                     sync.WaitGroup
	answered, notRun, lost atomic.Int64
	mu                     sync.Mutex
	lostErrs               []string
}

func startCtlLoad(ep string) *ctlLoad {
	l := &ctlLoad{ep: ep, stop: make(chan struct{})}
	repeatUntil(&l.wg, l.stop, l.session)
	return l
}

// session is one connection's requests, until it is lost, the load
// stops, or a request is refused as not run (an image about to exec). A
// lost connection is one the upgrade's exec closed: the request in
// flight on it then has no answer.
func (l *ctlLoad) session() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	c, err := ctlclient.DialContext(ctx, l.ep)
	cancel()
	if err != nil {
		return // between images: dial again
	}
	defer c.Close()
	for i := 0; ; i++ {
		select {
		case <-l.stop:
			return
		default:
		}
		cmd := []string{"status", "numprocesses", "globaloptions"}[i%3]
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		r, err := c.Do(ctx, arbiter.Request{Command: cmd})
		cancel()
		var ce *arbiter.CommandError
		switch {
		case err == nil:
			l.answered.Add(1)
		case errors.As(err, &ce) && r[wire.NotRun] == true:
			// As poolctl does: the connection is the old image's, about
			// to close; the new image answers a new one.
			l.answered.Add(1)
			l.notRun.Add(1)
			return
		case errors.As(err, &ce):
			l.answered.Add(1)
		case errors.Is(err, ctlclient.ErrNotSent):
			return // the exec closed the connection after an answer: dial again
		default:
			l.lost.Add(1)
			l.mu.Lock()
			l.lostErrs = append(l.lostErrs, fmt.Sprintf("%s: %v", cmd, err))
			l.mu.Unlock()
			return
		}
	}
}

func (l *ctlLoad) end() {
	close(l.stop)
	l.wg.Wait()
}

// A client sending control requests back to back across upgrades gets an
// answer to every request the old image took: the command's result, or
// an error saying that poold is being upgraded and the command was not
// run. Before, the request the old image had read when it exec'd (its
// loop frozen in the hand-over) never got one: the client timed out, or
// saw its connection lost, not knowing whether a write was done.
func TestUpgradeAnswersControlRequestsInFlight(t *testing.T) {
	p := startUpgradable(t, fmt.Sprintf(upgradeConfig, 1))
	proctest.Eventually(t, "1 worker", func() bool { return len(p.pids("web")) == 1 })
	load := startCtlLoad(p.endpoint())
	const upgrades = 6
	for i := range upgrades {
		before := load.answered.Load()
		proctest.Eventually(t, "requests answered", func() bool { return load.answered.Load() > before+20 })
		out, refused := p.upgrade()
		if refused != nil || out["state"] != "upgraded" {
			load.end()
			t.Fatalf("upgrade %d: %v %v", i+1, out, refused)
		}
	}
	before := load.answered.Load()
	proctest.Eventually(t, "requests answered by the last image", func() bool { return load.answered.Load() > before+20 })
	load.end()
	t.Logf("%d upgrades: %d requests answered (%d of them: not run, upgrading), %d without an answer",
		upgrades, load.answered.Load(), load.notRun.Load(), load.lost.Load())
	// Before, this client lost exactly one request per upgrade. What is
	// left (README, upgrade) is a request sent in the instant between
	// the endpoint's quiet moment and the exec: a client that is slow to
	// send its next request after an answer (seen under -race, on a
	// loaded machine: about one upgrade in 50) can still hit it.
	if n := load.lost.Load(); 2*n >= upgrades {
		t.Errorf("%d control requests got no answer across %d upgrades: %v", n, upgrades, load.lostErrs)
	}
}
