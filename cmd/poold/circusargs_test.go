package main

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/poold/poold/watcher/proctest"
)

// TestCircusdArgsOfConfigAndAdd runs a real circusd and poold on the same
// circus.ini and compares, through Circus's own CircusClient, the args
// that get and options give: "" for a config file's watcher without
// args (circusd's config reader's default; a Circus client that splits
// or concatenates it gets a string), null for one added without args.
func TestCircusdArgsOfConfigAndAdd(t *testing.T) {
	circusPeer(t)
	const watchers = "[watcher:plain]\ncmd = sleep 3600\n\n[watcher:given]\ncmd = sleep\nargs = 3600\n"
	cd := startCircusd(t, watchers)
	dir := t.TempDir()
	ini := fmt.Sprintf("[circus]\nendpoint = ipc://%s/c.sock\npubsub_endpoint = ipc://%s/e.sock\nstats_endpoint = ipc://%s/s.sock\n\n%s",
		dir, dir, dir, watchers)
	path := filepath.Join(dir, "circus.ini")
	if err := os.WriteFile(path, []byte(ini), 0o644); err != nil {
		t.Fatal(err)
	}
	p := launchPoold(t, nil, dir, path, nil)
	dialControl(t, p) // the control socket is up
	get := func(name string) map[string]any {
		return map[string]any{"command": "get", "properties": map[string]any{"name": name, "keys": []string{"args"}}}
	}
	opts := func(name string) map[string]any {
		return map[string]any{"command": "options", "properties": map[string]any{"name": name}}
	}
	add := map[string]any{"command": "add", "properties": map[string]any{"name": "added", "cmd": "sleep 3600"}}
	// circusd refuses add ("arbiter is already running") until it has
	// started its watchers.
	proctest.Eventually(t, "circusd takes add", func() bool {
		return circusClient(t, cd.control, []map[string]any{add})[0].Reply["status"] == "ok"
	})
	reqs := []map[string]any{get("plain"), opts("plain"), get("given"), opts("given"), add, get("added"), opts("added")}
	theirs := circusClient(t, cd.control, reqs[:4])
	theirs = append(theirs, circusClient(t, cd.control, reqs[5:])...)
	ours := circusClient(t, ctlEndpoint(p), reqs)
	ours = append(ours[:4], ours[5:]...)
	reqs = append(reqs[:4], reqs[5:]...)
	for i, req := range reqs {
		want, _ := theirs[i].Reply["options"].(map[string]any)
		got, _ := ours[i].Reply["options"].(map[string]any)
		if want == nil || got == nil {
			t.Fatalf("%v: circusd %v, poold %v", req, theirs[i].Reply, ours[i].Reply)
		}
		if !reflect.DeepEqual(want["args"], got["args"]) {
			t.Errorf("%s %v: args: circusd %#v, poold %#v", req["command"], req["properties"], want["args"], got["args"])
		}
	}
}
