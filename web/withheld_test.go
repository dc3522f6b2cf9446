package web

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/poold/poold/configs"
)

// The console's state goes to every console, read-only or not, and the
// page shows no env: it carries no env value. An operator console that
// asks options itself gets them; a read-only console does not.
func TestConsoleGetsNoEnvValues(t *testing.T) {
	t.Parallel()
	for _, ro := range []bool{false, true} {
		fake := newFakeBackend(t, map[string]int{"web": 1})
		ts := startServer(t, fake, configs.Web{ReadOnly: ro}, nil)
		c := dialConsole(t, ts)
		st := c.next("state with web", func(m map[string]any) bool {
			w := watcherIn(m, "web")
			return w != nil && w["options"] != nil
		})
		if b, _ := json.Marshal(st); strings.Contains(string(b), fakeSecret) {
			t.Errorf("read_only=%v: the console's state carries env's value: %s", ro, b)
		}
		c.send("o", "options", map[string]any{"name": "web"})
		b, _ := json.Marshal(c.reply("o"))
		if got := strings.Contains(string(b), fakeSecret); got == ro {
			t.Errorf("read_only=%v: options asked by the console: env's value shown %v: %s", ro, got, b)
		}
	}
}
