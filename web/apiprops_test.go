package web

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/configs"
)

// TestAPIRefusesUnknownProperties: the API passed on a body's keys
// unchecked, and a named command without a name acts on every watcher,
// so a misspelt "name", or the properties wrapped as the wire's request
// ({"command", "properties"}), restarted the whole host with 200 (r55b
// console review, finding 1). Such a body is refused, naming the key and
// the keys the command takes, and nothing runs.
func TestAPIRefusesUnknownProperties(t *testing.T) {
	t.Parallel()
	const ops = "0123456789abcdef0123"
	fake := newFakeBackend(t, map[string]int{"web": 1, "manual": 1})
	ts := startServer(t, fake, configs.Web{Tokens: []configs.APIToken{
		{Role: configs.RoleOperator, File: "ops.token", Token: ops},
	}}, nil)
	cases := []struct {
		command, body string
		want          []string
	}{
		{"restart", `{"command":"restart","properties":{"name":"manual"}}`, []string{
			`the body is a whole wire request ("command", "properties")`,
			`POST /api/v1/restart with {"name":"manual"}`, "restart takes: match, name, waiting", "nothing was run"}},
		{"stop", `{"nmae": "manual"}`, []string{`unknown property "nmae" in the body`, "stop takes: match, name, waiting", "nothing was run"}},
		{"status", `{"nmae": "web", "wating": true}`, []string{`unknown properties "nmae", "wating"`, "status takes: name"}},
		{"numwatchers", `{"name": "web"}`, []string{`unknown property "name"`, "numwatchers takes no properties"}},
	}
	for _, tc := range cases {
		code, rep := apiPost(t, ts.url, tc.command, ops, tc.body)
		reason := fmt.Sprint(rep["reason"])
		if code != http.StatusBadRequest || rep["errno"] != float64(arbiter.ErrnoBadProperty) {
			t.Errorf("POST %s %s: %d %v, want 400 errno %d", tc.command, tc.body, code, rep, arbiter.ErrnoBadProperty)
		}
		for _, w := range tc.want {
			if !strings.Contains(reason, w) {
				t.Errorf("POST %s %s: reason %q does not say %q", tc.command, tc.body, reason, w)
			}
		}
	}
	if calls := apiCalls(fake); len(calls) != 0 {
		t.Errorf("refused bodies still ran %q", calls)
	}
	// The properties each command takes still go through.
	if code, rep := apiPost(t, ts.url, "restart", ops, `{"name": "manual", "match": "simple"}`); code != http.StatusOK {
		t.Errorf("restart with name and match: %d %v, want 200", code, rep)
	}
	if code, rep := apiPost(t, ts.url, "incr", ops, `{"name": "web", "nb": 1, "waiting": false}`); code != http.StatusOK {
		t.Errorf("incr with name, nb and waiting: %d %v, want 200", code, rep)
	}
	if calls := apiCalls(fake); !slices.Equal(calls, []string{"restart", "incr"}) {
		t.Errorf("ran %q, want restart and incr", calls)
	}
}

// apiCalls are the commands fake ran for the API (not the console's own
// polling of it).
func apiCalls(fake *fakeBackend) []string {
	fake.mu.Lock()
	defer fake.mu.Unlock()
	var out []string
	for _, c := range fake.callers {
		if cmd, by, _ := strings.Cut(c, " by "); strings.HasPrefix(by, "API ") {
			out = append(out, cmd)
		}
	}
	return out
}
