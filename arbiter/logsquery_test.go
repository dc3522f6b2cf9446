package arbiter

import (
	"strings"
	"testing"

	"github.com/poold/poold/configs"
)

// TestLogsRefusesNegativeWid: a wid below 1 matched no worker and logs
// answered ok with no lines, so a typo (-w -1) looked like a silent worker.
// 0 still means every worker.
func TestLogsRefusesNegativeWid(t *testing.T) {
	h := start(t, &configs.Config{Watchers: []configs.Watcher{testWatcher("web", "sleep", 1)}}, Options{NoCgroups: true})
	out := handleJSON(t, h, `{"id": "l", "command": "logs", "properties": {"name": "web", "wid": -1}}`)
	if !strings.Contains(out, `"status":"error"`) || !strings.Contains(out, "wid") || !strings.Contains(out, "-1") {
		t.Errorf("logs wid -1: %s, want an error naming wid -1", out)
	}
	if out := handleJSON(t, h, `{"id": "l", "command": "logs", "properties": {"name": "web", "wid": 0}}`); !strings.Contains(out, `"status":"ok"`) {
		t.Errorf("logs wid 0 (every worker): %s, want ok", out)
	}
}

// TestUpgradeStatusBeforeAnyUpgrade: with no upgrade yet, upgrade_status
// said it began at Go's zero time (0001-01-01) in an empty state.
func TestUpgradeStatusBeforeAnyUpgrade(t *testing.T) {
	h := start(t, &configs.Config{Watchers: []configs.Watcher{testWatcher("web", "sleep", 0)}}, Options{NoCgroups: true})
	out := handleJSON(t, h, `{"id": "u", "command": "upgrade_status"}`)
	if strings.Contains(out, "0001-01-01") || strings.Contains(out, `"began"`) || !strings.Contains(out, `"state":"none"`) {
		t.Errorf("upgrade_status before any upgrade: %s, want state \"none\" and no began", out)
	}
}
