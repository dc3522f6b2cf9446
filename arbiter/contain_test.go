package arbiter

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher/cgroup"
)

// TestLimitsWithoutCgroupsFailTheStart: without cgroups (poold not root,
// no delegation, or cgroups turned off) memory_max, pids_max and cpu_max
// were dropped without a word, and a worker ran at 168M under a 64M
// limit. The README promises that a limit that cannot be applied fails
// the start, naming it; a watcher without limits starts as before.
func TestLimitsWithoutCgroupsFailTheStart(t *testing.T) {
	limited := testWatcher("limited", "sleep", 1)
	limited.MemoryMax, limited.CPUMax = 64<<20, 50
	limited.Autostart = false
	free := testWatcher("free", "sleep", 1)
	free.Autostart = false
	h := start(t, &configs.Config{Watchers: []configs.Watcher{limited, free}}, Options{NoCgroups: true})
	r := h.a.Do(context.Background(), Request{ID: "s", Command: "start", Properties: map[string]any{"name": "limited", "waiting": true}})
	want := `memory_max, cpu_max cannot be enforced: poold has no cgroups (containment: process group (cgroups turned off))`
	if reason := fmt.Sprint(r["reason"]); r["errno"] != ErrnoAsync || !strings.Contains(reason, want) || !strings.Contains(reason, `remove memory_max, cpu_max from watcher "limited"`) {
		t.Errorf("waited start of a watcher with limits and no cgroups: %v, want %q", r, want)
	}
	if l := h.do("list", map[string]any{"name": "limited"}); len(l["pids"].([]int)) != 0 {
		t.Errorf("a worker runs without its limits: %v", l)
	}
	h.do("start", map[string]any{"name": "free", "waiting": true})
}

// TestGlobalOptionsNameTheContainment: the README sends users to
// globaloptions for the containment in force; it was not there.
func TestGlobalOptionsNameTheContainment(t *testing.T) {
	h := start(t, &configs.Config{Watchers: []configs.Watcher{testWatcher("web", "sleep", 0)}}, Options{NoCgroups: true})
	opts := h.do("globaloptions", nil)["options"].(map[string]any)
	st := h.do("status", map[string]any{"name": "web"})
	if opts["containment"] != "process group (cgroups turned off)" || opts["containment"] != st["containment"] {
		t.Errorf("globaloptions containment %q, status's %q", opts["containment"], st["containment"])
	}
	if r := h.do("globaloptions", map[string]any{"option": "containment"}); r["options"].(map[string]any)["containment"] != opts["containment"] {
		t.Errorf("globaloptions containment alone: %v", r)
	}
}

// TestSecondPooldOnTheSameConfigIsRefused: a second poold on the config
// of a running one took the flock conflict on the cgroup tree for "no
// cgroups here", ran with process groups only and started every worker a
// second time; the README promises it is refused. It now fails its start
// naming the config and the tree, and starts nothing. Through a symlink
// to the same file it is the same config (the tree's name follows the
// file, not the path).
func TestSecondPooldOnTheSameConfigIsRefused(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "poold.toml")
	if err := os.WriteFile(path, []byte("# test\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.toml")
	if err := os.Symlink(path, link); err != nil {
		t.Fatal(err)
	}
	cfg := &configs.Config{Path: path, Watchers: []configs.Watcher{testWatcher("web", "sleep", 1)}}
	first := start(t, cfg, Options{})
	needContainment(t, first)
	pid := first.spawned()
	for _, p := range []string{path, link} {
		second := &configs.Config{Path: p, Arbiter: configs.DefaultArbiter(), Watchers: []configs.Watcher{testWatcher("web", "sleep", 1)}}
		bus := events.NewBus(nil)
		sub := bus.Subscribe(100)
		log := &syncBuffer{}
		a := New(second, Options{Events: bus, Log: hclog.New(&hclog.LoggerOptions{Output: io.MultiWriter(log, testWriter{t}), Level: hclog.Debug})})
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- a.Run(ctx) }()
		var err error
		select {
		case err = <-errc:
		case ev := <-sub.C(): // started: it runs beside the first
			cancel()
			<-errc
			t.Fatalf("a second poold on %s started (%s %v) instead of being refused; its log:\n%s", p, ev.Kind, ev.Fields, log.String())
		case <-time.After(hang):
			t.Fatalf("a second poold on %s neither started nor failed within %v", p, hang)
		}
		cancel()
		sub.Close()
		if !errors.Is(err, cgroup.ErrInUse) || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "stop it first") {
			t.Errorf("second poold on %s: Run = %v, want the tree in use, naming the config and what to do", p, err)
		}
	}
	if l := first.do("list", map[string]any{"name": "web"}); fmt.Sprint(l["pids"]) != fmt.Sprintf("[%d]", pid) {
		t.Errorf("the first poold's workers after the refused second ones: %v, want [%d]", l["pids"], pid)
	}
}

// TestTreeNameFollowsTheFile: the tree of a config reached through a
// symlink is the tree of the file; a path without symlinks keeps the
// name it always had (an install's restart finds its tree).
func TestTreeNameFollowsTheFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "poold.toml")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(path, filepath.Join(dir, "etc.toml")); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(path))
	want := cgroup.TreePrefix + "poold.toml-" + hex.EncodeToString(sum[:4])
	if got := treeName(path); got != want {
		t.Errorf("treeName(%s) = %s, want %s as before", path, got, want)
	}
	if got := treeName(filepath.Join(dir, "etc.toml")); got != want {
		t.Errorf("treeName of a symlink to %s = %s, want %s", path, got, want)
	}
}
