package main

import (
	"strings"
	"testing"
)

// TestReloadOfEveryWatcherSaysWhichItStarted: `poolctl reload` (no
// NAME) starts the watchers that were stopped, as circusd's does, and
// printed only ok (r61 pm2 trial: a dev-only watcher stopped on purpose
// ran again unnoticed). poolctl now names each one it started; a
// watcher that ran is not named, nor is anything by `reload NAME`.
func TestReloadOfEveryWatcherSaysWhichItStarted(t *testing.T) {
	t.Parallel()
	p := startPooldWith(t, pooldConf{
		watchers: "\n[watchers.dev]\ncmd = \"sleep\"\nargs = [\"3600\"]\nautostart = false\n",
	})
	p.waitPids(t, 2)
	want := "dev: started, it was stopped (a reload of every watcher starts the stopped ones, as circusd's; poolctl stop dev stops it again)\n"
	r := p.ctl(t, "reload")
	if r.code != 0 || r.stdout != "ok\n"+want {
		t.Errorf("reload with dev stopped: %v\nwant exit 0 and stdout %q", r, "ok\n"+want)
	}
	if r := p.ctl(t, "reload"); r.code != 0 || r.stdout != "ok\n" {
		t.Errorf("reload with every watcher running: %v, want ok alone", r)
	}
	p.ctl(t, "--waiting", "stop", "dev")
	if r := p.ctl(t, "reload", "--no-wait"); r.code != 0 || r.stdout != "ok\n"+want {
		t.Errorf("reload --no-wait with dev stopped: %v\nwant stdout %q", r, "ok\n"+want)
	}
	p.ctl(t, "--waiting", "stop", "dev")
	if r := p.ctl(t, "reload", "dev"); r.code != 0 || strings.Contains(r.stdout, "it was stopped") {
		t.Errorf("reload dev: %v, want its started/stopped/kept only", r)
	}
}
