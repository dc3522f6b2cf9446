package web

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/poold/poold/configs"
)

// Each command goes to poold with who sent it, for the line poold logs
// for every command that changes something: the API's token file and
// the client's address, the console's address.
func TestCommandsCarryTheirCaller(t *testing.T) {
	t.Parallel()
	const ops = "0123456789abcdef0123"
	fake := newFakeBackend(t, map[string]int{"web": 1})
	ts := startServer(t, fake, configs.Web{Tokens: []configs.APIToken{
		{Role: configs.RoleOperator, File: "/etc/poold/deploy.token", Token: ops},
	}}, nil)
	if code, rep := apiPost(t, ts.url, "incr", ops, `{"name": "web"}`); code != http.StatusOK {
		t.Fatalf("POST incr: %d %v", code, rep)
	}
	c := dialConsole(t, startServer(t, fake, configs.Web{}, nil))
	c.next("hello", typeIs("hello"))
	c.send("d", "decr", map[string]any{"name": "web"})
	c.next("the reply to decr", typeIs("reply"))

	fake.mu.Lock()
	callers := slices.Clone(fake.callers)
	fake.mu.Unlock()
	for _, want := range []string{"incr by API token /etc/poold/deploy.token from 127.0.0.1:", "decr by web console from 127.0.0.1:"} {
		if !slices.ContainsFunc(callers, func(c string) bool { return strings.HasPrefix(c, want) }) {
			t.Errorf("no call %q...; calls: %q", want, callers)
		}
	}
}
