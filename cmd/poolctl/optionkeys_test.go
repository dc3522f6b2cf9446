package main

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/poold/poold/configs"
)

// poolctl's copy of the option names is configs's: an option added to
// poold is completed by poolctl too.
func TestOptionKeysAreConfigs(t *testing.T) {
	t.Parallel()
	if d := cmp.Diff(configs.WatcherOptionKeys(), watcherOptionKeys); d != "" {
		t.Errorf("cmd/poolctl/optionkeys.go differs from configs.WatcherOptionKeys (-configs +poolctl):\n%s", d)
	}
}
