package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/poold/poold/watcher/proctest"
)

// status --exit-code judges each shape of the status reply: a stop asked
// for and a one-shot's work done are no failure; failed, flapping,
// starting and a slot without a worker are (r67 supervisord trial F2:
// status exited 0 whatever the state).
func TestNotRunning(t *testing.T) {
	slots := map[string]string{
		"done": `[{"wid":1,"state":"ready","pid":10},{"wid":2,"state":"exited","pid":0,"failed":false}]`,
		"gap":  `[{"wid":1,"state":"ready","pid":10},{"wid":2,"state":"backoff","pid":0}]`,
		"late": `[{"wid":1,"state":"ready","pid":10},{"wid":2,"state":"starting","pid":11}]`,
	}
	tests := []struct {
		name, reply, watcher string
		want                 []string
	}{
		{"every watcher runs, or rests on purpose", `{"statuses":{"web":"active","off":"stopped","going":"stopping"},
			"sizes":{"web":{"ready":2,"current":2},"off":{"ready":0,"current":1},"going":{"ready":0,"current":1}}}`, "", nil},
		{"failed, flapping and starting", `{"statuses":{"a":"active","b":"active","c":"starting"},"states":{"a":"failed","b":"flapping"},
			"sizes":{"a":{"ready":1,"current":2},"b":{"ready":0,"current":1},"c":{"ready":0,"current":1}}}`, "",
			[]string{"a (failed, 1/2 ready)", "b (flapping, 0/1 ready)", "c (starting, 0/1 ready)"}},
		{"a one-shot whose other slot did its work", `{"statuses":{"done":"active"},"sizes":{"done":{"ready":1,"current":2}}}`, "", nil},
		{"a slot in backoff", `{"statuses":{"gap":"active"},"sizes":{"gap":{"ready":1,"current":2}}}`, "",
			[]string{"gap (active, 1/2 ready: wid 2 backoff)"}},
		{"a worker not ready yet", `{"statuses":{"late":"active"},"sizes":{"late":{"ready":1,"current":2}}}`, "",
			[]string{"late (active, 1/2 ready)"}},
		{"an elastic pool above its min", `{"statuses":{"el":"active"},"sizes":{"el":{"ready":2,"current":5,"elastic":true}}}`, "", nil},
		{"a poold without sizes", `{"statuses":{"old":"active","f":"active"},"states":{"f":"failed"}}`, "", []string{"f (failed)"}},
		{"one watcher, failed", `{"status":"active","state":"failed","size":{"ready":0,"current":1},"slots":[]}`, "bad",
			[]string{"bad (failed, 0/1 ready)"}},
		{"one watcher, its slot in backoff", `{"status":"active","size":{"ready":1,"current":2},"slots":` + slots["gap"] + `}`, "gap",
			[]string{"gap (active, 1/2 ready: wid 2 backoff)"}},
		{"one watcher, stopped", `{"status":"stopped","size":{"ready":0,"current":1}}`, "web", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r reply
			if err := json.Unmarshal([]byte(tt.reply), &r); err != nil {
				t.Fatal(err)
			}
			slotsOf := func(name string) ([]any, error) {
				var s []any
				err := json.Unmarshal([]byte(slots[name]), &s)
				return s, err
			}
			got, err := notRunning(r, tt.watcher, slotsOf)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("notRunning (-want +got):\n%s", diff)
			}
		})
	}
}

// Against a real poold: exit 0 while everything that should run runs (a
// one-shot's slot that did its work, a watcher not started on purpose),
// 4 once a started watcher fails, 0 again once it is stopped; an
// unknown name keeps exit 1, and without the flag status exits 0.
func TestStatusExitCode(t *testing.T) {
	p := startPooldWith(t, pooldConf{watchers: `
[watchers.half]
cmd = "sh"
args = ["-c", "if [ $(pool.wid) = 1 ]; then sleep 1; exit 0; fi; exec sleep 3600"]
numprocesses = 2
respawn = false

[watchers.bad]
cmd = "sh"
args = ["-c", "exit 3"]
autostart = false
flapping_max_retry = 0
`})
	check := func(args ...string) result {
		t.Helper()
		return poolctl(t, append(p.conn(), append([]string{"status"}, args...)...)...)
	}
	if !proctest.Poll(30*time.Second, func() bool {
		out := check("half").stdout
		return strings.HasPrefix(out, "active\n") && strings.Contains(out, "exited")
	}) {
		t.Fatalf("half: wid 1 not exited with wid 2 running after 30s: %v", check("half"))
	}
	p.waitPids(t, 2)
	if r := check("--exit-code"); r.code != 0 {
		t.Fatalf("status --exit-code with everything running as configured: %v", r)
	}
	if r := check("half", "--exit-code"); r.code != 0 {
		t.Fatalf("status half --exit-code: %v", r)
	}

	p.ctl(t, "start", "bad")
	if !proctest.Poll(60*time.Second, func() bool {
		st := check("bad").stdout
		return strings.HasPrefix(st, "failed") || strings.HasPrefix(st, "flapping")
	}) {
		t.Fatalf("bad not failed or flapping after 60s: %v", check("bad"))
	}
	r := check("--exit-code")
	if r.code != exitNotRunning || !strings.Contains(r.stderr, "bad (") || strings.Contains(r.stderr, "half") || !strings.Contains(r.stdout, "bad") {
		t.Errorf("status --exit-code with bad failed: want exit %d naming bad alone, the table printed: %v", exitNotRunning, r)
	}
	if r := check("bad", "--exit-code"); r.code != exitNotRunning {
		t.Errorf("status bad --exit-code: want exit %d: %v", exitNotRunning, r)
	}
	if r := check("web", "--exit-code"); r.code != 0 {
		t.Errorf("status web --exit-code: want 0: %v", r)
	}
	if r := check("--json", "--exit-code"); r.code != exitNotRunning || !json.Valid([]byte(r.stdout)) {
		t.Errorf("status --json --exit-code: want exit %d and poold's reply: %v", exitNotRunning, r)
	}
	if r := check(); r.code != 0 {
		t.Errorf("status without --exit-code: want 0 as circusctl's: %v", r)
	}
	if r := check("nosuch", "--exit-code"); r.code != exitReplyError {
		t.Errorf("status nosuch --exit-code: want exit %d: %v", exitReplyError, r)
	}

	p.ctl(t, "--waiting", "stop", "bad")
	if r := check("--exit-code"); r.code != 0 {
		t.Errorf("status --exit-code with bad stopped on purpose: %v", r)
	}
}
