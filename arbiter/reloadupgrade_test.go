package arbiter

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/poold/poold/arbiter/upgrade"
	"github.com/poold/poold/configs"
)

// A config reload was refused (the file on disk is broken), then poold
// was upgraded in place: the new image started its reload state afresh,
// so poold_config_last_reload_successful went back to 1, its success
// timestamp to the upgrade's time and sd_notify's STATUS lost "last
// config reload failed", though the config in force was still the old
// one and the file was still refused. An alert on a failed reload
// cleared itself at the upgrade. The state handed over keeps it.
func TestUpgradeKeepsAFailedConfigReload(t *testing.T) {
	cfg := &configs.Config{}
	load := func() (*configs.Config, error) {
		return nil, errors.New("configs: poold.toml: broken on purpose")
	}
	old := start(t, cfg, Options{Load: load})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if r := old.a.Do(ctx, Request{Command: "reloadconfig", Properties: map[string]any{"waiting": true}}); r["status"] != "error" {
		t.Fatalf("reloadconfig of a broken file replied %v, want an error", r)
	}
	before, err := old.a.Snapshot(ctx)
	if err != nil || before.Config.LastReloadOK {
		t.Fatalf("after a refused reload: %+v (%v)", before.Config, err)
	}
	st := onLoop(t, old.a, func() any { return old.a.state(time.Now()) }).(*upgrade.State)

	next := start(t, &configs.Config{}, Options{Adopt: st})
	after, err := next.a.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got, want := after.Config, before.Config
	if got.LastReloadOK || got.LastError != want.LastError || !got.LastSuccess.Equal(want.LastSuccess) {
		t.Errorf("after the upgrade the reload state is %+v; want the failed reload kept: %+v", got, want)
	}
}
