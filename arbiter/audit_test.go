package arbiter

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/poold/poold/configs"
)

// An operator reading poold's log must be able to tell who changed
// what: each command that changes something is logged with its caller,
// without the values that may be secrets; read-only ones are not.
func TestCommandsThatChangeSomethingAreLoggedWithTheirCaller(t *testing.T) {
	h := start(t, &configs.Config{Watchers: []configs.Watcher{testWatcher("web", "sleep", 1)}}, Options{})
	ctx := WithCaller(context.Background(), "uid 1000 gid 1000 pid 4242")
	do := func(cmd string, props map[string]any) Reply {
		t.Helper()
		c, cancel := context.WithTimeout(ctx, hang)
		defer cancel()
		return h.a.Do(c, Request{ID: "t", Command: cmd, Properties: props})
	}
	do("status", map[string]any{"name": "web"})
	do("incr", map[string]any{"name": "web", "nb": 2.0, "waiting": true})
	do("set", map[string]any{"name": "web", "options": map[string]any{"env": map[string]any{"DB_PASSWORD": "hunter2"}}})
	// A refusal that quotes the value sent (r52b-ctl): its reason is not
	// logged.
	if r := do("set", map[string]any{"name": "web", "options": map[string]any{"env": "DB_PASSWORD=hunter2"}}); r["status"] != "error" || !strings.Contains(fmt.Sprint(r["reason"]), "hunter2") {
		t.Fatalf("set with env as a string: %v; want a refusal quoting it (else this check proves nothing)", r)
	}
	if r := do("decr", map[string]any{"name": "nosuch"}); r["status"] != "error" {
		t.Fatalf("decr of a watcher that does not exist: %v", r)
	}
	// poold's own calls (no caller) are logged where they are done.
	h.do("decr", map[string]any{"name": "web"})

	logged := h.log.String()
	for _, want := range []string{
		`command received: command=incr watcher=web nb=2 waiting=true by="uid 1000 gid 1000 pid 4242"`,
		`command received: command=set watcher=web with="options(env)" by="uid 1000 gid 1000 pid 4242"`,
		`command failed: command=decr watcher=nosuch reason=`,
		`command failed: command=set watcher=web with="options(env)" reason="(not logged: it may quote the values sent)"`,
	} {
		if !strings.Contains(logged, want) {
			t.Errorf("log lacks %q:\n%s", want, logged)
		}
	}
	for _, not := range []string{"hunter2", "command=status", "command received: command=decr watcher=web"} {
		if strings.Contains(logged, not) {
			t.Errorf("log has %q, which it must not:\n%s", not, logged)
		}
	}
}

// A client's many or long property names do not make a long log line.
func TestCommandLogLineStaysShort(t *testing.T) {
	props := map[string]any{"name": strings.Repeat("w", 500)}
	for i := range 1000 {
		props[strings.Repeat("k", 100)+string(rune('a'+i%26))+strings.Repeat("x", i)] = "v"
		props["n"+strings.Repeat("y", i)] = float64(i)
	}
	line := ""
	for _, f := range commandFields(props, "me") {
		if s, ok := f.(string); ok {
			line += s + " "
		}
	}
	if len(line) > 4000 {
		t.Errorf("log fields of 2,000 long properties take %d bytes: %.300s...", len(line), line)
	}
	if !strings.Contains(line, "more") {
		t.Errorf("log fields do not say that names were left out: %.300s", line)
	}
}
