package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportDirection checks the one-way imports of DESIGN.md: configs and
// events import no project package, sockets only configs, watcher only
// configs and events (and its own subpackages), arbiter not web, nothing
// imports cmd or web, and only tests import watcher/proctest; each
// third-party library stays in its package.
func TestImportDirection(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}:{{join .Imports " "}}`, "github.com/poold/poold/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	const mod = "github.com/poold/poold/"
	allowed := map[string][]string{
		"configs": {},
		// What poolctl shares with poold without linking the loader.
		"configs/rundir":    {},
		"configs/tokenfile": {},
		// Translators of other managers' files build a configs tree.
		"configs/translate": {"configs"},
		// The translators' tests' shared fuzzing (tests only).
		"configs/translate/translatetest": {"configs", "configs/translate"},
		"configs/circusini":               {"configs", "configs/translate", "configs/circusstream"},
		// Circus's stream options, for the translator and for add/set.
		"configs/circusstream":  {"configs"},
		"configs/supervisorini": {"configs/translate"},
		"events":                {},
		"events/zmqguard":       {},
		"events/zmqguard/":      {"events/zmqguard"},
		"events/zmqpub":         {"events", "events/zmqguard"},
		"sockets":               {"configs"},
		// What a user's Go worker imports: the standard library only
		// (its own test checks with go list -deps).
		"sockets/worker": {},
		"watcher":        {"configs", "events", "watcher/"},
		"watcher/":       {"configs", "events"},
		// cgroup is a leaf the spawner forks into (CLONE_INTO_CGROUP).
		"watcher/cgroup": {},
		// The spawner asks launch why a working_dir stopped a fork (EACCES).
		"watcher/spawn": {"configs", "events", "watcher/cgroup", "watcher/launch"},
		// sockdiag is a leaf: the netlink sock_diag exchange that the
		// arbiter and the handover share.
		"watcher/sockdiag": {},
		// The handover shares procinfo's rule of when a process has
		// ended (LeaderEnded); procinfo imports nothing of ours.
		"watcher/handover": {"configs", "events", "watcher/sockdiag", "watcher/procinfo"},
		// Exec probes and hooks start their commands through the
		// spawner's registry, so the orphan reaper leaves their exits.
		"watcher/probe": {"configs", "events", "watcher/spawn", "watcher/termsafe"},
		// termsafe is a leaf: the one rule of what a terminal must not
		// get raw, for poold's text log, poolctl and the probes.
		"watcher/termsafe": {},
		"arbiter":          {"configs", "configs/circusstream", "events", "sockets", "watcher", "watcher/"},
		"arbiter/":         {"arbiter", "arbiter/wire", "configs", "events", "events/", "sockets", "watcher"},
		// The protocol's messages and its client: what poolctl links.
		"arbiter/wire":                 {},
		"arbiter/controller/ctlclient": {"arbiter/wire", "events/zmqguard"},
		// The upgrade state carries the worker log rings' records;
		// workerlog imports nothing of ours.
		"arbiter/upgrade": {"configs", "events", "sockets", "watcher", "arbiter/workerlog"},
		"web":             {"arbiter", "configs", "events", "web/remote"},
		"web/remote":      {"arbiter/wire", "configs/tokenfile"},
		// Test helpers for every package: a leaf, and no non-test
		// package may import it (checked below, cmd included).
		"watcher/proctest": {},
	}
	libs := map[string][]string{ // library -> packages allowed to import it
		"github.com/go-zeromq/zmq4":    {"events/zmqguard", "events/zmqpub", "arbiter/controller", "arbiter/controller/ctlclient", "cmd/poolctl"},
		"github.com/gorilla/websocket": {"web"},
		"github.com/spf13/viper":       {"configs"},
		// Metrics: the exporter alone speaks Prometheus.
		"github.com/prometheus/client_golang": {"arbiter/metrics"},
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, ":")
		rel := strings.TrimPrefix(pkg, mod)
		for _, only := range []string{"watcher/proctest", "configs/translate/translatetest"} {
			if strings.Contains(" "+imports+" ", " "+mod+only+" ") {
				t.Errorf("%s imports %s, which is for tests only", rel, only)
			}
		}
		if strings.HasPrefix(rel, "cmd/") {
			continue
		}
		rule, ok := allowed[rel]
		if !ok {
			for prefix, r := range allowed {
				if strings.HasSuffix(prefix, "/") && strings.HasPrefix(rel, prefix) {
					rule, ok = r, true
				}
			}
		}
		for _, imp := range strings.Fields(imports) {
			for lib, users := range libs {
				if strings.HasPrefix(imp, lib) && !within(rel, users) {
					t.Errorf("%s imports %s; only %v may", rel, lib, users)
				}
			}
			dep, ours := strings.CutPrefix(imp, mod)
			if !ours {
				continue
			}
			if strings.HasPrefix(dep, "cmd/") || (dep == "web" && rel != "web") {
				t.Errorf("%s imports %s: nothing imports cmd or web", rel, dep)
				continue
			}
			if !ok {
				t.Errorf("package %s has no import rule; add one to this test", rel)
				break
			}
			if dep == rel || strings.HasPrefix(dep, rel+"/") {
				continue
			}
			if !within(dep, rule) {
				t.Errorf("%s imports %s; it may import only %v", rel, dep, rule)
			}
		}
	}
}

// TestPoolctlIsAThinClient: poolctl links the protocol, its clients and
// the event stream's subscriber, never poold itself (the arbiter, the
// config loader and viper, the watchers): every package it links costs
// its init on each run, and `poolctl status` is run in loops.
func TestPoolctlIsAThinClient(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/poold/poold/cmd/poolctl").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	const mod = "github.com/poold/poold/"
	// watcher/termsafe: the one escaping rule poold's text log shares, a
	// leaf of the standard library only.
	ours := []string{"arbiter/wire", "arbiter/controller/ctlclient", "configs/rundir", "configs/tokenfile",
		"events", "events/zmqguard", "events/zmqpub", "web/remote", "watcher/termsafe", "cmd/poolctl"}
	for _, pkg := range strings.Fields(string(out)) {
		rel, isOurs := strings.CutPrefix(pkg, mod)
		switch {
		case isOurs && !within(rel, ours):
			t.Errorf("poolctl links %s; it may link only %v (move what it needs into one of them)", rel, ours)
		case strings.HasPrefix(pkg, "github.com/spf13/viper"), strings.HasPrefix(pkg, "github.com/prometheus/"):
			t.Errorf("poolctl links %s, a library of poold's", pkg)
		}
	}
}

// within reports whether pkg is one of rules, or under one ending in "/".
func within(pkg string, rules []string) bool {
	for _, r := range rules {
		if pkg == r || (strings.HasSuffix(r, "/") && strings.HasPrefix(pkg, r)) {
			return true
		}
	}
	return false
}
