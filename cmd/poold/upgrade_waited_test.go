package main

import (
	"slices"
	"testing"
	"time"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/watcher/proctest"
)

// TestUpgradeKeepsTheAnswerOfAWaitedReload: `poolctl reload web` waits
// until the old workers are gone. An upgrade asked for once the new
// workers were up but while an old one was still in its graceful stop
// went ahead (the rolling reload was over), and the exec closed the
// waiting client's connection: poolctl said poold was unreachable (exit
// 3) for a reload that went through. The upgrade now waits for the
// answer to be sent.
func TestUpgradeKeepsTheAnswerOfAWaitedReload(t *testing.T) {
	t.Parallel()
	// Deaf to SIGTERM once its trap is set; a reload before that killed
	// it outright (seen under load).
	p, old := startTrappedWeb(t, "3s")
	type answer struct {
		r   arbiter.Reply
		err error
	}
	reloaded := make(chan answer, 1)
	go func() {
		r, err := p.try("reload", map[string]any{"name": "web", "waiting": true})
		reloaded <- answer{r, err}
	}()
	// The rolling reload is over (its reload event) while the old worker,
	// deaf to SIGTERM, waits for its SIGKILL at graceful_timeout.
	proctest.Eventually(t, "the reload event", func() bool {
		_, topics, _ := p.events()
		return slices.Contains(topics, "watcher.web.reload")
	})
	if !proctest.Alive(old) {
		t.Fatalf("the old worker %d is gone already: the test needs it stopping", old)
	}
	if o, refused := p.upgrade(); refused != nil || o["state"] != "upgraded" {
		t.Fatalf("upgrade: outcome %v, refusal %v", o, refused)
	}
	select {
	case a := <-reloaded:
		if a.err != nil || a.r["status"] != "ok" {
			t.Fatalf("the waited reload's answer: %v, error %v; want ok", a.r, a.err)
		}
	case <-time.After(hang):
		t.Fatalf("no answer to the waited reload within %v", hang)
	}
}
