package arbiter

import (
	"fmt"
	"strings"
	"testing"

	"github.com/poold/poold/configs"
)

// TestReloadShowsKeysKeptFromRunTime: a `set web max_cpu 40` of hours
// ago survived putting the old file back (a reload keeps run-time
// changes of the keys the file left alone), and nothing showed that web
// ran otherwise than its file said: an on-call's rollback left the limit
// in force and web flapping. status NAME now lists each such key with
// the value in force, the file's and the command that set it, and the
// reload logs the keys it kept.
func TestReloadShowsKeysKeptFromRunTime(t *testing.T) {
	web := testWatcher("web", "sleep", 1)
	cfg := &configs.Config{Arbiter: configs.DefaultArbiter(), Watchers: []configs.Watcher{web}}
	h := start(t, cfg, Options{Load: func() (*configs.Config, error) {
		return &configs.Config{Arbiter: configs.DefaultArbiter(), Watchers: []configs.Watcher{web}}, nil
	}})
	readyPids(t, h, "web", 1)
	if rows := overridesOf(t, h); len(rows) != 0 {
		t.Fatalf("status web before any set: overrides %v, want none", rows)
	}
	h.do("set", map[string]any{"name": "web", "options": map[string]any{"max_cpu": 40, "rlimits": map[string]any{"nofile": 512}}})
	h.do("incr", map[string]any{"name": "web"})

	r := h.do("reloadconfig", map[string]any{"waiting": true})
	if kept := fmt.Sprint(r["kept"]); kept != "map[web:[max_cpu=40 numprocesses=2 rlimits.nofile=512]]" {
		t.Errorf("reloadconfig reply: kept %s, want web's max_cpu=40 numprocesses=2 rlimits.nofile=512", kept)
	}
	got := overridesOf(t, h)
	want := map[string]string{
		"max_cpu":        "40 (file: 0) by set",
		"numprocesses":   "2 (file: 1) by incr",
		"rlimits.nofile": "512 (file: none) by set",
	}
	if len(got) != len(want) {
		t.Errorf("status web after the reload: overrides %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("status web after the reload: override %s = %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
	// Logged on the loop before the reload's reply.
	for _, kv := range []string{"kept from run time, not in the file", "web.max_cpu=40", "web.numprocesses=2", "web.rlimits.nofile=512"} {
		if !strings.Contains(h.log.String(), kv) {
			t.Errorf("the reload's log lacks %s:\n%s", kv, h.log.String())
		}
	}

	// Set back to the file's values: nothing differs any more.
	h.do("set", map[string]any{"name": "web", "options": map[string]any{"max_cpu": 0, "numprocesses": 1, "rlimits": map[string]any{}}})
	if rows := overridesOf(t, h); len(rows) != 0 {
		t.Errorf("status web after set back to the file's values: overrides %v, want none", rows)
	}
}

// overridesOf reads the overrides of status web as key -> "value (file:
// file's) by command".
func overridesOf(t *testing.T, h *harness) map[string]string {
	t.Helper()
	rows, ok := h.do("status", map[string]any{"name": "web"})["overrides"].([]map[string]any)
	if !ok {
		t.Fatalf("status web: no overrides list")
	}
	out := map[string]string{}
	for _, r := range rows {
		by, _ := r["set_by"].(string)
		by, _, _ = strings.Cut(by, " ") // "set from uid ..." without a caller here
		out[fmt.Sprint(r["key"])] = fmt.Sprintf("%v (file: %v) by %s", r["value"], r["file"], by)
	}
	return out
}

// TestOverridesWithholdEnv: a read-only caller sees that env differs
// from the file, never its values.
func TestOverridesWithholdEnv(t *testing.T) {
	file := configs.DefaultWatcher("web")
	now := file.Clone()
	now.Env = []string{"TOKEN=s3cret"}
	rows := overrideRows(keyDiffs(configs.WatcherOptions(file), configs.WatcherOptions(now)), true)
	if len(rows) != 1 || rows[0]["key"] != "env" || rows[0]["value"] != Withheld {
		t.Errorf("env set at run time, read-only caller: %v, want env with its value withheld", rows)
	}
}

// TestOverridesKeepShellText: status showed a cmd set at run time with
// `>>` as `\u003e\u003e` (r60 celery trial): JSON's HTML escapes, in
// text meant for a person.
func TestOverridesKeepShellText(t *testing.T) {
	file := configs.DefaultWatcher("web")
	now := file.Clone()
	now.Cmd = `/bin/sh -c 'echo run $$ >> /tmp/x.log && a < b'`
	rows := overrideRows(keyDiffs(configs.WatcherOptions(file), configs.WatcherOptions(now)), false)
	want := `"/bin/sh -c 'echo run $$ >> /tmp/x.log && a < b'"`
	if len(rows) != 1 || rows[0]["value"] != want {
		t.Errorf("cmd set at run time: %v, want the value %s", rows, want)
	}
}
