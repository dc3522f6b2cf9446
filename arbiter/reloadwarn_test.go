package arbiter

import (
	"strings"
	"testing"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher/proctest"
)

// TestSIGHUPReloadLogsWarnings: the file's warnings (r64: a socket no
// watcher uses) went only into a waited reloadconfig's reply, so a
// SIGHUP reload that left a socket unused said nothing. They are logged.
func TestSIGHUPReloadLogsWarnings(t *testing.T) {
	w := testWatcher("w", "sleep", 1)
	cfg := configs.Config{Sockets: []configs.Socket{tcpSocket("s")}, Watchers: []configs.Watcher{w}}
	const warning = `configs: poold.toml:1:10: sockets.s: no watcher uses it`
	h := start(t, &cfg, Options{Load: func() (*configs.Config, error) {
		c := cfg
		c.Warnings = []string{warning}
		return &c, nil
	}})
	h.spawned()
	h.a.Reload() // SIGHUP
	h.next(string(events.KindReloadConfig), nil)
	proctest.Eventually(t, "the reload's log line", func() bool { return strings.Contains(h.log.String(), "config reloaded") })
	if log := h.log.String(); !strings.Contains(log, "[WARN]  config reload: the file has a warning: warning=\""+warning) {
		t.Errorf("the file's warning is not in the log:\n%s", log)
	}
}
