package upgrade

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher"
)

// A state written by a build that did not know a config field lacks it:
// the field takes the default the file loader gives it, not Go's zero
// value (stop_children became false on every watcher after an upgrade
// from a build before it). Here every field but the names is left out of
// each section, watcher (as the config runs it, as the file gave it, and
// as its state's spec) and socket: each decodes to its defaults.
func TestDecodeGivesAbsentConfigFieldsTheirDefaults(t *testing.T) {
	want := configs.DefaultWatcher("web")
	st := State{Version: Version, Config: &configs.Config{
		Arbiter: configs.DefaultArbiter(), Web: configs.DefaultWeb(),
		Sockets: []configs.Socket{configs.DefaultSocket("s")}, Watchers: []configs.Watcher{want},
	}, Filed: []configs.Watcher{want}, Watchers: []watcher.State{{Spec: want}}}
	raw, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	cfg := m["config"].(map[string]any)
	objects := []any{cfg["Arbiter"], cfg["Web"], cfg["Sockets"].([]any)[0], cfg["Watchers"].([]any)[0],
		m["filed"].([]any)[0], m["watchers"].([]any)[0].(map[string]any)["spec"]}
	for _, o := range objects {
		for k := range o.(map[string]any) {
			if k != "Name" {
				delete(o.(map[string]any), k)
			}
		}
	}
	stripped, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(bytes.NewReader(stripped))
	if err != nil {
		t.Fatalf("decode %s: %v", stripped, err)
	}
	for what, g := range map[string]any{"config.Arbiter": got.Config.Arbiter, "config.Web": got.Config.Web,
		"config.Sockets[0]": got.Config.Sockets[0], "config.Watchers[0]": got.Config.Watchers[0],
		"filed[0]": got.Filed[0], "watchers[0].spec": got.Watchers[0].Spec} {
		w := map[string]any{"config.Arbiter": configs.DefaultArbiter(), "config.Web": configs.DefaultWeb(),
			"config.Sockets[0]": configs.DefaultSocket("s")}[what]
		if w == nil {
			w = want
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%s of a state without its fields:\n got %+v\nwant %+v (the defaults)", what, g, w)
		}
	}

	// Without the sections at all, and a field written false stays false.
	got, err = Decode(bytes.NewReader([]byte(`{"version": 2, "config": {"Watchers": [{"Name": "web", "StopChildren": false}, {"Name": "api"}]}}`)))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Config.Arbiter, configs.DefaultArbiter()) || !reflect.DeepEqual(got.Config.Web, configs.DefaultWeb()) {
		t.Errorf("no [arbiter] or [web] in the state: %+v %+v, want the defaults", got.Config.Arbiter, got.Config.Web)
	}
	if w := got.Config.Watchers; w[0].StopChildren || !w[1].StopChildren {
		t.Errorf("stop_children written false: %v, absent: %v; want false, then true (the default)", w[0].StopChildren, w[1].StopChildren)
	}
}

// A state of a newer build (a rollback, a downgrade) sets fields this
// one does not know: they are dropped, and the config's warnings name
// them (the new image logs them, poolctl upgrade prints them).
func TestDecodeNamesConfigFieldsItDoesNotKnow(t *testing.T) {
	st, err := Decode(bytes.NewReader([]byte(`{"version": 2, "config": {"Arbiter": {"LogLevel": "info", "Later": 1},
		"Watchers": [{"Name": "web", "StopChildren": false, "Knob": true, "Logs": {"Ring": 5, "Shiny": "x"}}, {"Name": "api"}]}}`)))
	if err != nil {
		t.Fatal(err)
	}
	if w := st.Config.Warnings; len(w) != 1 || !contains(w[0], "Arbiter.Later, Watchers[web].Knob, Watchers[web].Logs.Shiny", "does not know") {
		t.Errorf("warnings %q; want one naming Arbiter.Later, Watchers[web].Knob and Watchers[web].Logs.Shiny", w)
	}
	if w := st.Config.Watchers[0]; w.StopChildren || w.Logs.Ring != 5 {
		t.Errorf("the fields it knows: stop_children %v, log_ring %d; want false, 5", w.StopChildren, w.Logs.Ring)
	}
}

func contains(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
